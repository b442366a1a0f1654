// A reload of /join without a token: this tab still holds the token it was
// opened with (join.js kept it), so go back in with it; otherwise the page says
// the link is missing.
const token = sessionStorage.getItem("classroom.token");
if (token) {
  const url = new URL(window.location.href);
  url.searchParams.set("token", token);
  window.location.replace(url.toString());
} else {
  /** @type {HTMLElement} */ (document.getElementById("rejoin-missing")).hidden = false;
}
