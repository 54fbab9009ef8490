// Shows script errors in the window instead of leaving it silently empty (e.g. a module that fails to load).
window.addEventListener("error", (event) => {
  const banner = document.getElementById("global-error");
  if (!banner) return;
  banner.textContent = `The window hit an error: ${event.message} (${event.filename}:${event.lineno})`;
  banner.hidden = false;
});
