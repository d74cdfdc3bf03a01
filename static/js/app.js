// USC-PIS progressive enhancements. No inline scripts anywhere (strict CSP).
document.addEventListener("DOMContentLoaded", () => {
  // Close the mobile menu after choosing an item.
  document.querySelectorAll(".sidebar a").forEach((a) =>
    a.addEventListener("click", () => {
      const t = document.getElementById("nav-toggle");
      if (t) t.checked = false;
    })
  );
  // Auto-submit filter forms marked data-autosubmit (fallback: their submit button).
  document.querySelectorAll("form[data-autosubmit] select").forEach((el) =>
    el.addEventListener("change", () => el.form.requestSubmit())
  );
});
// Show server error responses to HTMX requests instead of silently doing nothing.
document.addEventListener("htmx:responseError", (evt) => {
  const status = evt.detail.xhr.status;
  if (status === 409 || status === 422 || isExplainedFragment(evt.detail.xhr)) return; // swapped in
  const box = document.createElement("div");
  box.className = "alert alert-error toast";
  box.textContent = status === 403 ? "You are not allowed to do that." :
    status === 404 ? "That record no longer exists." : "Something went wrong (" + status + "). Please try again.";
  document.body.appendChild(box);
  setTimeout(() => box.remove(), 6000);
});
// Let 409/422 fragments (conflicts, form errors), and 503s that say what is unavailable
// (marked X-Swap-Fragment by the server), swap in like successes.
function isExplainedFragment(xhr) {
  return xhr.status === 503 && xhr.getResponseHeader("X-Swap-Fragment") === "1";
}
document.addEventListener("htmx:beforeSwap", (evt) => {
  const status = evt.detail.xhr.status;
  if (status === 409 || status === 422 || isExplainedFragment(evt.detail.xhr)) {
    evt.detail.shouldSwap = true;
    evt.detail.isError = false;
  }
});
