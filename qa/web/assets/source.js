// js_on_load of a source panel (gr.HTML): whenever its article changes, scroll the active
// highlight into view inside the article body, and the panel into the window.
function focusMark() {
  const mark = element.querySelector('mark.qa-active') || element.querySelector('mark.qa-hl');
  const body = element.querySelector('.qa-article-body');
  if (!mark || !body) return;
  body.scrollTop = Math.max(0, mark.offsetTop - body.clientHeight / 3);
  const box = element.getBoundingClientRect();
  if (box.top < 0 || box.top > window.innerHeight - 80) {
    element.scrollIntoView({block: 'start', behavior: 'smooth'});
  }
}
watch('value', function () { requestAnimationFrame(focusMark); });
requestAnimationFrame(focusMark);
