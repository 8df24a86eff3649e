import js from "@eslint/js";
import tseslint from "typescript-eslint";
import globals from "globals";

/**
 * The registry server's boundary (issue: the server ships into every app repository). It may
 * use itself and the shared modules (image/, crane/, storage/, the publication core in
 * publish/, errors.ts); never the CLI side. scripts/build-server.mjs checks
 * the same for everything the bundle reaches, transitively; this rule names the bad import
 * where it is written.
 */
const CLI_SIDE = [
  String.raw`^(\.\./)+(cli|commands|app|config|ui|sources|federation)(/|\.js$)`,
  String.raw`^(\.\./)+adapters/(git|git-errors|exec)\.js$`,
];
const CLI_PACKAGES = ["commander", "ora", "execa", "simple-git"];
const boundary = (allowTypeImports) => [
  "error",
  {
    paths: CLI_PACKAGES.map((name) => ({
      name,
      allowTypeImports,
      message: "The registry server (and what it shares with the CLI) must not use CLI-only packages.",
    })),
    patterns: CLI_SIDE.map((regex) => ({
      regex,
      allowTypeImports,
      message:
        "The registry server (and what it shares with the CLI) must not import CLI-side code; move what it needs into a shared module.",
    })),
  },
];

export default tseslint.config(
  {
    ignores: ["dist/", "node_modules/", "coverage/", "templates/**/server/", "bench/.work/", "test-output/"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      // Type-aware rules read the types through the project's own tsconfig.json (src, test,
      // vitest.config.ts); the .js/.mjs files below are linted without types.
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    linterOptions: { reportUnusedDisableDirectives: "error" },
    rules: {
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      curly: ["error", "multi-line"],
    },
  },
  {
    // vitest types its asymmetric matchers (expect.any, expect.objectContaining,
    // expect.stringMatching...) as `any` so they fit any field of an expected value; placing
    // them is the one unsafe assignment tests make on purpose. Calls, member access and returns
    // of `any` stay errors in tests too.
    files: ["src/**/*.test.ts", "test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
    },
  },
  {
    // bench/, scripts/ and this file are plain JavaScript outside the TypeScript project.
    files: ["**/*.{js,mjs,cjs}"],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // Only the CLI edge and the reporters may print.
    files: ["src/**/*.ts"],
    ignores: ["src/cli/**", "src/ui/**", "src/server/main.ts"],
    rules: { "no-console": "error" },
  },
  {
    // An HTTP answer from a server raas does not control is read with a bound, or not at all.
    files: ["src/**/*.ts"],
    ignores: ["src/**/*.test.ts", "src/**/testing/**", "src/adapters/http-body.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          selector:
            "CallExpression[arguments.length=0][callee.property.name=/^(text|json|arrayBuffer|blob)$/]",
          message:
            "Read HTTP bodies through adapters/http-body.ts (readCapped, textCapped, discardBody): a server may send without end.",
        },
      ],
    },
  },
  {
    files: ["src/server/**/*.ts"],
    ignores: ["src/server/**/*.test.ts", "src/server/testing/**"],
    rules: { "no-restricted-imports": boundary(false) },
  },
  {
    // Shared with the server: type-only imports vanish at build time and are allowed.
    files: [
      "src/crane/**/*.ts",
      "src/image/**/*.ts",
      "src/storage/**/*.ts",
      "src/errors.ts",
      "src/publish/{publish,upload,pool,mask,metadata-commit}.ts",
    ],
    ignores: ["src/**/*.test.ts", "src/**/testing/**"],
    rules: { "no-restricted-imports": boundary(true) },
  },
);
