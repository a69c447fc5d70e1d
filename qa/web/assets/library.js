// js_on_load of the library table (gr.HTML): a Read or Delete button sends {action, doc_id}
// to the server's click handler.
element.addEventListener('click', function (event) {
  const button = event.target.closest('button[data-action]');
  if (!button || !element.contains(button)) return;
  event.preventDefault();
  trigger('click', {action: button.dataset.action, doc_id: button.dataset.doc});
});
