/**
 * The JSON Schema of `flamewatch.budgets.yaml`, published at
 * `GET /api/v1/budgets/schema` and used to check every file and body.
 */
import Ajv from 'ajv';

const NAME = '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$';
const LIMIT = '^\\s*[0-9]+(\\.[0-9]+)?(e[+-]?[0-9]+)?\\s*[A-Za-zµ%/]*\\s*$';

/** The JSON Schema of `flamewatch.budgets.yaml` (and of `PUT /api/v1/budgets`'s body). */
export const BUDGETS_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://flamewatch.dev/schemas/budgets.json',
  title: 'Flamewatch performance budgets',
  type: 'object',
  additionalProperties: false,
  required: ['budgets'],
  properties: {
    version: { const: 1 },
    defaults: {
      type: 'object',
      additionalProperties: false,
      description: 'Fields every budget takes unless it sets its own.',
      properties: {
        service: { type: 'string', minLength: 1, maxLength: 256 },
        type: { type: 'string' },
        selector: { type: 'string' },
        owner: { type: 'string' },
        severity: { enum: ['warn', 'block'] },
      },
    },
    budgets: {
      type: 'array',
      maxItems: 500,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: {
            type: 'string',
            pattern: NAME,
            description: 'Unique in the file; names the budget in verdicts, the UI and breaches.',
          },
          service: { type: 'string', minLength: 1, maxLength: 256 },
          type: {
            type: 'string',
            pattern: '^[A-Za-z0-9_.-]{1,64}$',
            description: 'Profile type; default cpu.',
          },
          selector: { type: 'string', maxLength: 2048, description: 'Label matchers, e.g. {env="prod"}.' },
          owner: { type: 'string', maxLength: 256 },
          severity: {
            enum: ['warn', 'block'],
            description: 'block fails CI and the gate; warn only reports. Default block.',
          },
          description: { type: 'string', maxLength: 2048 },
          function: {
            type: 'string',
            minLength: 1,
            maxLength: 4096,
            description: 'A function name, or /regex/ for every function it matches.',
          },
          file: {
            type: 'string',
            minLength: 1,
            maxLength: 4096,
            description:
              "Only the function's frames in this file: its path or its last segments (events.js), for a name several files define.",
          },
          measure: { enum: ['self', 'total'], description: 'Default total.' },
          share: {
            type: ['string', 'number'],
            pattern: LIMIT,
            description: 'Most of the profile total the function may take: 35% or 0.35.',
          },
          rate: {
            type: ['string', 'number'],
            pattern: LIMIT,
            description: 'Most per instance-second: 0.5 cores, 200 ms/s, 40 MB/s; in-use types: 200 MB.',
          },
          perRequest: {
            type: ['string', 'number'],
            pattern: LIMIT,
            description: 'Most per counted request: 40 us, 2 KB.',
          },
          counter: {
            type: 'string',
            pattern: '^[A-Za-z0-9_.-]{1,64}$',
            description: 'perRequest: the profile type counting requests; default requests.',
          },
          growth: {
            type: ['string', 'number'],
            pattern: LIMIT,
            description: 'Most relative growth against the baseline: 5%.',
          },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
/** The compiled schema (ajv): every problem at once. */
export const validateBudgets = ajv.compile(BUDGETS_SCHEMA);
