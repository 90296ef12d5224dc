/** The Date header value, recomputed once a second (as node:http does). */
let dateSecond = -1;
let dateValue = '';

export function httpDate(): string {
  const now = Date.now();
  const s = Math.floor(now / 1000);
  if (s !== dateSecond) {
    dateSecond = s;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}
