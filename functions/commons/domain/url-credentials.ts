/**
 * A URL with a user name or password in it (`https://user:secret@host/`) is refused wherever the gateway
 * takes one — a keyframe URL, its public base URL, an asset URL, an allowlisted origin: the credentials
 * would be sent on to whoever the URL names, and logged on the way.
 */
export function carriesCredentials(url: URL): boolean {
  return url.username !== '' || url.password !== '';
}
