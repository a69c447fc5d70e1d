// js_on_load of the chat transcript and the summary (gr.HTML): a click on a citation chip
// marks it active and sends {kind, turn, n} to the server's click handler.
element.addEventListener('click', function (event) {
  const chip = event.target.closest('button.qa-chip');
  if (!chip || !element.contains(chip)) return;
  event.preventDefault();
  element.querySelectorAll('button.qa-chip.qa-active').forEach(function (b) {
    b.classList.remove('qa-active');
  });
  chip.classList.add('qa-active');
  trigger('click', {
    kind: chip.dataset.kind, turn: Number(chip.dataset.turn), n: Number(chip.dataset.n)
  });
});
