import { ApiError } from "../errors.ts";

/**
 * The proxied path, checked segment by segment so that nothing can climb out of the provider's
 * base URL: no `.`/`..` segments (also percent-encoded), no encoded slashes or backslashes, no
 * NUL or control characters.
 *
 * @throws {ApiError} 400 `invalid_path`.
 * @example
 * proxiedPath("forecast/today"); // "/forecast/today"
 */
export function proxiedPath(rawWildcard: string): string {
  const segments = rawWildcard.split("/");
  for (const segment of segments) {
    let decoded: string;
    try {
      decoded = decodeURIComponent(segment);
    } catch {
      throw bad(`Segment "${segment}" is not valid percent-encoding`);
    }
    if (decoded === "." || decoded === "..") throw bad("Path segments `.` and `..` are not allowed");
    if (/[\\/\u0000-\u001f\u007f]/.test(decoded)) throw bad("Encoded slashes, backslashes and control characters are not allowed in the path");
  }
  return `/${rawWildcard}`;
}

function bad(message: string) {
  return new ApiError({ status: 400, code: "invalid_path", message });
}
