// The page's toasts (console/_toasts.html), a static script since the Content-Security-Policy allows no inline one.
// - The close button hides its toast; the focus it had goes to the page's content rather than being lost.
// - A success or information toast (data-dismiss-after, in milliseconds) hides itself after that time, later while
//   the pointer or the focus is on it, so that it can be read. Warnings and errors stay until closed.
// Toasts an htmx fragment brings (out of band, into #cmsf-toasts) are armed as they arrive.
const hideToast = (toast) => {
  toast.hidden = true;
};

const armToasts = (root) => {
  const toasts = root.matches && root.matches(".cmsf-toast") ? [root] : root.querySelectorAll(".cmsf-toast");
  for (const toast of toasts) {
    const after = Number.parseInt(toast.dataset.dismissAfter || "", 10);
    if (!Number.isFinite(after) || toast.dataset.armed === "true") {
      continue;
    }
    toast.dataset.armed = "true";
    const later = () => {
      if (toast.matches(":hover, :focus-within")) {
        window.setTimeout(later, 1000);
      } else {
        hideToast(toast);
      }
    };
    window.setTimeout(later, after);
  }
};

document.addEventListener("click", (event) => {
  const button = event.target instanceof Element ? event.target.closest("[data-toast-close]") : null;
  const toast = button ? button.closest(".cmsf-toast") : null;
  if (toast instanceof HTMLElement) {
    const hadFocus = toast.contains(document.activeElement);
    hideToast(toast);
    const main = document.querySelector("main");
    if (hadFocus && main instanceof HTMLElement) {
      main.setAttribute("tabindex", "-1");
      main.focus();
    }
  }
});

document.addEventListener("DOMContentLoaded", () => armToasts(document));
document.addEventListener("htmx:load", (event) => {
  if (event.target instanceof Element) {
    armToasts(event.target);
  }
});
