// The console with the keyboard alone (a static script: the Content-Security-Policy allows no inline one).
// - A dialog page (an SLDS modal) takes the focus when it opens, and Escape leaves it through its Cancel link.
// - Escape hides an open help hint until the focus or the pointer leaves it.
document.addEventListener("DOMContentLoaded", () => {
  const dialog = document.querySelector('[role="dialog"][aria-modal="true"]');
  if (dialog instanceof HTMLElement && !dialog.contains(document.activeElement)) {
    dialog.focus();
  }
});

document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape" || event.defaultPrevented) {
    return;
  }
  const focused = document.activeElement;
  const hint = focused instanceof Element ? focused.closest(".cmsf-hint") : null;
  if (hint) {
    hint.classList.add("cmsf-hint_dismissed");
    event.preventDefault();
    return;
  }
  const cancel = document.querySelector('[role="dialog"][aria-modal="true"] [data-dialog-cancel]');
  if (cancel instanceof HTMLAnchorElement) {
    event.preventDefault();
    window.location.assign(cancel.href);
  }
});

const undismiss = (event) => {
  const hint = event.target instanceof Element ? event.target.closest(".cmsf-hint") : null;
  if (hint && !hint.contains(event.relatedTarget)) {
    hint.classList.remove("cmsf-hint_dismissed");
  }
};
document.addEventListener("focusout", undismiss);
document.addEventListener("mouseout", undismiss);
