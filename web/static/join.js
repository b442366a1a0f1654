// Takes the join token out of the address bar at once, keeping it for this tab only.
const url = new URL(window.location.href);
const token = url.searchParams.get("token");
if (token) {
  sessionStorage.setItem("classroom.token", token);
  url.searchParams.delete("token");
  window.history.replaceState(null, "", url.pathname + url.search + url.hash);
}
export function joinToken() {
  return sessionStorage.getItem("classroom.token");
}
