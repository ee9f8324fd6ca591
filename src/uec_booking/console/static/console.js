// Progressive enhancement only: every page works without it.
// Focus moves to the error summary, so a screen reader announces the problem first.
document.addEventListener('DOMContentLoaded', function () {
  var summary = document.getElementById('error-summary');
  if (summary) { summary.focus(); }
});
