// The copy button next to a secret shown once or a block of configuration lines: copies the
// value (a field) or the text (a pre) of the element named by the button's data-copy
// attribute. The page works without it (the text is selectable).
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field || !navigator.clipboard) return;
  var text = field.value !== undefined ? field.value : field.textContent;
  navigator.clipboard.writeText(text).then(function () { button.textContent = "Copied"; });
});
