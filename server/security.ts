/**
 * HTTP security headers (helmet) and the Content-Security-Policy the UI runs
 * under: its one bundled script and stylesheet from this origin, canvas
 * drawing, API calls to this origin, blob: downloads of exports, no inline
 * scripts or styles, no framing.
 */
import helmet from 'helmet';
import type { RequestHandler } from 'express';

/** The CSP directives of every answer (the API's JSON included: a browser that renders one runs nothing). */
export const CSP_DIRECTIVES = {
  defaultSrc: ["'self'"],
  scriptSrc: ["'self'"],
  scriptSrcAttr: ["'none'"],
  styleSrc: ["'self'"],
  // The favicon is `data:,`; exports are saved through blob: URLs.
  imgSrc: ["'self'", 'data:', 'blob:'],
  fontSrc: ["'self'"],
  connectSrc: ["'self'"],
  objectSrc: ["'none'"],
  baseUri: ["'none'"],
  formAction: ["'self'"],
  frameAncestors: ["'none'"],
};

export function securityHeaders(): RequestHandler {
  return helmet({
    // Only these directives: helmet's defaults add upgrade-insecure-requests,
    // which would send the UI's requests to https on a plain-HTTP server.
    contentSecurityPolicy: { useDefaults: false, directives: CSP_DIRECTIVES },
    // HSTS only where TLS ends here; a proxy that terminates TLS sets it.
    strictTransportSecurity: false,
  });
}
