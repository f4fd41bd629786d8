// trustplane dashboard: copy buttons. No dependencies; pages work without it.
(function () {
  "use strict";

  async function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return;
    }
    // Plain-HTTP fallback: select a temporary textarea and use the legacy copy command.
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    if (!ok) throw new Error("copy command refused");
  }

  document.addEventListener("click", async function (event) {
    const button = event.target.closest("button[data-copy-target]");
    if (!button) return;
    const source = document.getElementById(button.dataset.copyTarget);
    if (!source) return;
    const label = button.textContent;
    try {
      await copyText(source.textContent.trim());
      button.textContent = "Copied";
    } catch (err) {
      button.textContent = "Press Ctrl+C";
      const range = document.createRange();
      range.selectNodeContents(source);
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
    }
    setTimeout(function () { button.textContent = label; }, 2000);
  });
})();
