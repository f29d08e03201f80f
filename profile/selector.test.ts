import { InputError } from './errors';
import { formatSelector, parseSelector, selectorLabels } from './selector';

describe('parseSelector', () => {
  it('reads a service with quoted matchers of every operator', () => {
    expect(parseSelector('checkout{env="prod", version!="1.4", pod=~"web-.*", zone!~\'eu\'}')).toEqual({
      service: 'checkout',
      matchers: [
        { name: 'env', op: '=', value: 'prod' },
        { name: 'version', op: '!=', value: '1.4' },
        { name: 'pod', op: '=~', value: 'web-.*' },
        { name: 'zone', op: '!~', value: 'eu' },
      ],
    });
  });

  it('reads bare values, dotted names and slashes in ingest names, as Pyroscope SDKs send them', () => {
    const s = parseSelector(
      'app.cpu{otel.scope.name=com.grafana.pyroscope/nodejs,process.runtime.version=20.20.2}',
      { ingest: true },
    );
    expect(s.service).toBe('app.cpu');
    expect(selectorLabels(s)).toEqual({
      'otel.scope.name': 'com.grafana.pyroscope/nodejs',
      'process.runtime.version': '20.20.2',
    });
  });

  it('unescapes quoted values and round-trips formatSelector', () => {
    const labels = { a: 'quote " and \\ backslash', b: 'comma, brace } equals =' };
    expect(selectorLabels(parseSelector(formatSelector('svc', labels), { ingest: true }))).toEqual(labels);
  });

  it('takes the service from a service_name matcher', () => {
    expect(parseSelector('{service_name="checkout", env="prod"}')).toEqual({
      service: 'checkout',
      matchers: [{ name: 'env', op: '=', value: 'prod' }],
    });
  });

  it.each([
    ['svc{env="prod"', /missing closing|expected/],
    ['svc{env}', /expected one of/],
    ['svc{9x="a"}', /invalid label name/],
    ['svc{a="b"} trailing', /unexpected text/],
    ['svc{a=~"("}', /invalid regular expression/],
    ['{env="prod"}', /no service/],
    ['svc{a="unterminated}', /unterminated/],
  ])('refuses %s', (text, message) => {
    expect(() => parseSelector(text)).toThrow(InputError);
    expect(() => parseSelector(text)).toThrow(message);
  });

  it('refuses operators other than = in ingest names', () => {
    expect(() => parseSelector('svc{a!=b}', { ingest: true })).toThrow(/only = is allowed/);
  });
});
