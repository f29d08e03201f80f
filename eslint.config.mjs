// A small rule set that catches bugs, not style (Prettier owns the layout): promises left floating or
// passed where a callback's result is ignored, unused code, `any` where a type would do.
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'agent/dist/', 'ui/dist/', 'node_modules/', '.tools/', 'bench/out/', 'test/out/', 'data/', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.base],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
);
