/** `--server`, checked: ci's commands all need an http(s) URL. */
export function checkServer(server: string | undefined): string {
  if (server === undefined || server === '')
    throw new Error('--server is required (or set FLAMEWATCH_SERVER), e.g. --server http://localhost:4040');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`--server "${server}" is not a URL; write it as http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`--server "${server}" must be an http:// or https:// URL`);
  return server;
}
