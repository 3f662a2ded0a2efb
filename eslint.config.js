import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/', 'cdk.out/', 'dist/', 'dist.*/', 'coverage/', '.etl/', 'bench/.data/'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-console': 'off',
      // `Promise<Outcome | void>` is how a handler says "nothing to report".
      '@typescript-eslint/no-invalid-void-type': 'off',
    },
  },
  {
    // The dashboard's page script runs in the browser, as a classic script (no build step).
    files: ['src/runtime/local/dashboard/**/*.js'],
    languageOptions: {
      sourceType: 'script',
      globals: { window: 'readonly', document: 'readonly', fetch: 'readonly', EventSource: 'readonly' },
    },
  },
  {
    // Imports flow one way: runtimes -> stages -> pipeline definition.
    files: ['src/stages/**/*.ts', 'src/pipeline/**/*.ts', 'src/patterns/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/runtime/**', '**/cli/**', '**/infra/**', '**/adapters/**'],
              message: 'Stages and the pipeline definition stay pure: runtimes adapt them.',
            },
            {
              group: [
                '@aws-sdk/*',
                'aws-cdk-lib',
                'aws-cdk-lib/*',
                'dynalite',
                's3rver',
                '@aws-lambda-powertools/*',
              ],
              message: 'Stages and the pipeline definition import no AWS or local runtime code.',
            },
          ],
        },
      ],
    },
  },
  {
    // Adapters implement the stages' ports for both runtimes: they know neither runtime.
    files: ['src/adapters/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/runtime/**', '**/cli/**', '**/infra/**'],
              message: 'Adapters serve both runtimes.',
            },
          ],
        },
      ],
    },
  },
  {
    // The two runtimes are siblings: neither builds on the other.
    files: ['src/runtime/local/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/runtime/aws/**', '**/infra/**', '**/cli/**'],
              message: 'The local runtime stands alone.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/runtime/aws/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/runtime/local/**', '**/infra/**', '**/cli/**', 'dynalite', 's3rver'],
              message: 'The AWS runtime stands alone.',
            },
          ],
        },
      ],
    },
  },
);
