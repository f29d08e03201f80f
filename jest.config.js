/** Jest runs TypeScript through SWC (no type-check here: `npm test` runs tsc first). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/profile', '<rootDir>/store', '<rootDir>/server', '<rootDir>/jobs', '<rootDir>/notify', '<rootDir>/cli'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } }] },
  testTimeout: 60000,
  // Checks the generated corpus is there; says so when the shared one is not.
  globalSetup: '<rootDir>/test/global-setup.ts',
};
