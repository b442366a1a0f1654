"""protocol.js in a real Chromium: a request is answered by the reply that echoes its ref,
rejected by the error that echoes it (which no other listener hears), or times out."""

from __future__ import annotations

import pytest

from tests.browser.conftest import LiveServer, OpenPage
from tests.conftest import Mint

pytestmark = pytest.mark.browser

# Runs in a page of the service's origin, with protocol.js only.
REQUESTS = """
async ({ token }) => {
  const { ClassroomConnection, RequestError } = await import("/static/protocol.js");
  const connection = new ClassroomConnection(token, { page: "side" });
  const heard = [];
  connection.addEventListener("error", (event) => heard.push(event.detail.code));
  const pongs = [];
  connection.addEventListener("pong", (event) => pongs.push(event.detail.ref));
  const welcomed = new Promise((resolve) => connection.addEventListener("welcome", resolve));
  connection.connect();
  await welcomed;
  const outcome = async (promise) => {
    try {
      const value = await promise;
      return { value: value === undefined ? "undefined" : value };
    } catch (error) {
      const requestError = error instanceof RequestError;
      return { error: error.message, code: error.code, requestError };
    }
  };
  const reply = await outcome(connection.request("ping", {}, { reply: "pong" }));
  const refused = await outcome(connection.request("no_such_type", {}, { reply: "pong" }));
  const command = await outcome(connection.command("no_such_type"));
  const never = { reply: "never", timeoutMs: 300 };
  const timedOut = await outcome(connection.request("ping", {}, never));
  // Without a ref the error is nobody's request: the page's listeners hear it.
  const unclaimed = new Promise((resolve) => {
    connection.addEventListener("error", resolve, { once: true });
  });
  connection.send("no_such_type");
  await unclaimed;
  const aborts = new AbortController();
  const until = { reply: "never", signal: aborts.signal };
  const pending = outcome(connection.request("ping", {}, until));
  aborts.abort(new Error("stopped"));
  const aborted = await pending;
  connection.close();
  const waiting = connection.waiting.size;
  return { reply, refused, command, timedOut, aborted, heard, pongs, waiting };
}
"""


async def test_requests_are_settled_by_the_reply_or_error_that_echoes_their_ref(
    open_page: OpenPage, live_server: LiveServer, mint: Mint
) -> None:
    page = await open_page(live_server.url + "/healthz")
    result = await page.evaluate(REQUESTS, {"token": mint("trainee", "Ana", sub="ana")})

    reply = result["reply"]["value"]
    assert reply["type"] == "pong" and reply["ref"].startswith("r"), result
    assert result["refused"]["code"] == "unknown_type" and result["refused"]["requestError"], result
    assert result["command"]["code"] == "unknown_type" and result["command"]["requestError"], result
    assert result["timedOut"]["error"] == "no never from the server", result
    assert not result["timedOut"]["requestError"], result
    assert result["aborted"]["error"] == "stopped", result
    # The errors that answered requests went to them; only the ref-less one was heard.
    assert result["heard"] == ["unknown_type"], result
    # Replies are still dispatched as events: the two pings' pongs (the timed-out one too).
    assert len(result["pongs"]) >= 2, result
    assert result["waiting"] == 0, result
