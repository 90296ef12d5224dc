/**
 * Save text as a file the user downloads: a Blob and an <a download> click. Works in a browser (`up --ui`) and in
 * Electron (which shows its save dialog for the download).
 */
export function downloadText(fileName: string, text: string, type = 'application/json'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = fileName;
  a.rel = 'noopener';
  a.style.display = 'none';
  document.body.appendChild(a);
  a.click();
  a.remove();
  // Revoke once the download has surely started.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
