/**
 * Token management under /api/v1/tokens (admin scope): make a token (shown
 * once), list a tenant's tokens (never the tokens themselves), revoke one.
 * A tenant's admin manages its own tenant's tokens; the operator token
 * (FLAMEWATCH_ADMIN_TOKEN) may name another tenant (`tenant` in the body, or
 * `?tenant=`), which is how a new tenant gets its first token.
 */
import express, { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { InputError } from '../../profile/errors';
import { SCOPES, type Scope, type TokenStore } from '../../store/tokens';
import { type Auth, isTenant } from '../auth';
import { HttpError } from '../errors';
import { param } from './params';

export interface TokenDeps {
  tokens: TokenStore;
  auth: Auth;
}

type AsyncHandler = (req: Request, res: Parameters<RequestHandler>[1]) => Promise<void>;
const route =
  (fn: AsyncHandler): RequestHandler =>
  (req, res) =>
    fn(req, res);

const createBody = z
  .object({
    scopes: z
      .array(z.enum(SCOPES as [Scope, ...Scope[]]))
      .min(1)
      .max(SCOPES.length),
    name: z.string().max(128).optional(),
    tenant: z.string().optional(),
  })
  .strict();

export function tokensRouter({ tokens, auth }: TokenDeps): Router {
  const api = Router();
  const json = express.json({ limit: '16kb' });

  api.use('/tokens', (_req, _res, next) => {
    if (auth.mode === 'open') {
      next(
        new HttpError(
          404,
          'tokens are off: this server runs open (no authentication); set FLAMEWATCH_ADMIN_TOKEN or FLAMEWATCH_AUTH=token to use them',
          'not_found',
        ),
      );
    } else next();
  });
  // Reading the list needs admin too (the API's default for GET is read).
  api.use('/tokens', auth.require('admin'));

  /** The tenant a token request is about: the caller's, or for the operator the one it names. */
  function targetTenant(req: Request, named: string | undefined): string {
    const own = auth.tenantOf(req);
    if (named === undefined || named === own) return own;
    if (!isTenant(named))
      throw new InputError('invalid_parameter', 'tenant must be 1-64 letters, digits, _ . or -');
    if (!auth.principalOf(req)?.operator)
      throw new HttpError(
        403,
        "only the operator token (FLAMEWATCH_ADMIN_TOKEN) manages another tenant's tokens",
        'forbidden',
      );
    return named;
  }

  api.post(
    '/tokens',
    json,
    route(async (req, res) => {
      const parsed = createBody.safeParse(req.body);
      if (!parsed.success) {
        throw new InputError(
          'invalid_parameter',
          `send {"scopes": [${SCOPES.map((s) => `"${s}"`).join(', ')}], "name": "..."}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
        );
      }
      const tenant = targetTenant(req, parsed.data.tenant);
      res.status(201).json(await tokens.create(tenant, parsed.data.scopes, parsed.data.name ?? ''));
    }),
  );

  api.get(
    '/tokens',
    route(async (req, res) => {
      res.json(await tokens.list(targetTenant(req, param(req, 'tenant'))));
    }),
  );

  api.delete(
    '/tokens/:id',
    route(async (req, res) => {
      const tenant = targetTenant(req, param(req, 'tenant'));
      const { revoked, hash } = await tokens.revoke(tenant, String(req.params.id));
      if (!revoked) {
        res
          .status(404)
          .json({ error: `no token ${String(req.params.id).slice(0, 64)}`, reason: 'not_found' });
        return;
      }
      auth.forget(hash!);
      res.status(204).end();
    }),
  );

  return api;
}
