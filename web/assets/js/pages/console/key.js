// A bot key the API shows once (registration, regeneration): the key, a copy button and the
// warning that it will not be shown again.

import { h } from '../../ui.js';

export function keyOnce(key) {
  const words = h('p', { role: 'status', class: 'hint' });
  const code = h('code', { id: 'bot-key' }, key);
  const copy = h('button', { type: 'button', class: 'small' }, 'Copy the key');
  copy.addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText(key);
      words.textContent = 'Copied.';
    } catch {
      // Without clipboard access the key is selected, so the keyboard can copy it.
      getSelection().selectAllChildren(code);
      words.textContent = 'The key is selected: copy it with your keyboard.';
    }
  });
  return h(
    'div',
    { class: 'key-once', role: 'alert' },
    h('p', {}, h('strong', {}, 'This key is shown once. '), 'Copy it now and keep it secret: whoever holds it acts as this bot.'),
    h('p', {}, code),
    copy,
    words,
  );
}
