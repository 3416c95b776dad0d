// The copy button next to a secret shown once: copies the value of the element named by the
// button's data-copy attribute. The page works without it (the field is selectable).
document.addEventListener("click", function (event) {
  var button = event.target.closest("button[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field || !navigator.clipboard) return;
  navigator.clipboard.writeText(field.value).then(function () { button.textContent = "Copied"; });
});
