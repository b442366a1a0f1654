// Takes the join token out of the address bar at once, keeping it for this tab only.
// The page's language came from the token: it stays in the address (?lang=) so that a
// reload, which no longer carries the token, is served in the same language.
const url = new URL(window.location.href);
const token = url.searchParams.get("token");
if (token) {
  sessionStorage.setItem("classroom.token", token);
  url.searchParams.delete("token");
  const lang = document.documentElement.lang;
  if (lang && !url.searchParams.has("lang")) url.searchParams.set("lang", lang);
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
}
export function joinToken() {
  return sessionStorage.getItem("classroom.token");
}
