// A CSV file built in the page (RFC 4180: every field quoted, quotes doubled, CRLF line ends) and
// handed to the browser as a download; nothing leaves the page but the file.

const quote = (value) => `"${String(value ?? '').replace(/"/g, '""')}"`;

/** `header` (names) and `rows` (arrays of values) → the text of a CSV file. */
export function csvText(header, rows) {
  return [header, ...rows].map((row) => row.map(quote).join(',')).join('\r\n') + '\r\n';
}

/** Offers `text` as the file `name` to download. */
export function download(name, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/csv;charset=utf-8' }));
  const anchor = document.createElement('a');
  anchor.href = url;
  anchor.download = name;
  document.body.append(anchor);
  anchor.click();
  anchor.remove();
  // The click has started the download; the object URL is no longer needed after this turn.
  setTimeout(() => URL.revokeObjectURL(url), 0);
}
