import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The README's ```ts blocks, written into an installed app as ES modules and type-checked with one tsc run, so a
// sample that no longer matches the published API (or cannot run as ESM) fails the test suite, naming its line.

/**
 * Declarations a deliberately partial sample needs, keyed by the sample's first non-empty line. Each stands for
 * something the reader supplies (their activities, their workflows path) or that the sample's prose says it continues
 * from; keep them to declarations and imports, never to code that would hide a mistake in the sample.
 */
export const snippetPreambles: Readonly<Record<string, readonly string[]>> = {
  // Use with a Worker and a Client: the reader's own activities module.
  '// An ES module (top-level await): "type": "module" in package.json, or a .mts file.': [
    'declare const activities: object; // the Worker option is typed `object`',
  ],
  // Temporal Cloud: "Workers and clients connect as usual" continues the worker sample, whose imports it reuses.
  'const connection = await NativeConnection.connect({': [
    "import { NativeConnection, Worker } from '@temporalio/worker';",
    "import { createDataConverter } from 'temporal-payload-codec';",
    'declare const workflowsPath: string;',
    'declare const activities: object;',
  ],
};

export interface ReadmeSnippet {
  /** 1-based position among the README's TypeScript blocks; names the file `snippet-N.ts`. */
  index: number;
  /** README line of the block's first code line. */
  line: number;
  firstLine: string;
  code: string;
  preamble: readonly string[];
  fileName: string;
}

const openingFence = /^(\s*)```(?:ts|typescript|mts)\s*$/;
const closingFence = /^\s*```\s*$/;

/** Every ```ts (or ```typescript, ```mts) block of a Markdown document, indentation of list items removed. */
export function extractTsSnippets(markdown: string): ReadmeSnippet[] {
  const lines = markdown.split('\n');
  const snippets: ReadmeSnippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const opening = openingFence.exec(lines[i]!);
    if (!opening) continue;
    const indent = opening[1]!.length;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length && !closingFence.test(lines[j]!); j++) body.push(lines[j]!.slice(indent));
    if (j === lines.length) throw new Error(`README.md:${i + 1}: the \`\`\`ts block is never closed`);
    const index = snippets.length + 1;
    const firstLine = body.find((line) => line.trim() !== '')?.trim() ?? '';
    snippets.push({
      index,
      line: i + 2,
      firstLine,
      code: body.join('\n'),
      preamble: snippetPreambles[firstLine] ?? [],
      fileName: `snippet-${index}.ts`,
    });
    i = j;
  }
  return snippets;
}

/**
 * CommonJS-only names a sample uses although it is written as an ES module, as `README.md:LINE: ...`. Node defines
 * none of them in ESM (`require` only when the sample makes its own with `createRequire`), and @types/node declares
 * them globally, so tsc alone would not notice.
 */
export function commonJsUsesIn(snippet: ReadmeSnippet): string[] {
  const definesRequire = /\bcreateRequire\s*\(/.test(snippet.code);
  const found: string[] = [];
  snippet.code.split('\n').forEach((text, offset) => {
    const code = text.replace(/(^|\s)\/\/.*$/, ''); // a comment may mention them
    const names = [
      ...(definesRequire ? [] : code.match(/\brequire\.resolve\b|\brequire\s*\(/g) ?? []),
      ...(code.match(/\b__dirname\b|\b__filename\b/g) ?? []),
    ];
    for (const name of names) {
      found.push(`README.md:${snippet.line + offset}: \`${name.replace(/\s+/g, '')}\` is CommonJS only; this sample is an ES module (use import.meta.url, fileURLToPath, import.meta.dirname)`);
    }
  });
  return found;
}

export interface TypecheckResult {
  /** Errors per snippet index, each as `README.md:LINE:COL TSxxxx: message` (or naming the preamble). */
  errors: Map<number, string[]>;
  /** Errors tsc reported outside the snippet files (tsconfig, libraries). */
  unattributed: string[];
  /** Every file tsc read, as --listFiles prints them. */
  files: string[];
  output: string;
}

/**
 * Writes the snippets as ES modules into `dir` (inside an app that has the packed package installed) with a strict
 * NodeNext tsconfig and runs tsc once. @temporalio packages the app lacks (the Worker and the optional client peer)
 * and @types/node come from the repository's node_modules; the app's own installs (temporal-payload-codec from the
 * tarball, its peers @temporalio/common and proto) are resolved from the app as a user's project would.
 */
export function typecheckSnippets(snippets: ReadmeSnippet[], options: { root: string; app: string; dir: string }): TypecheckResult {
  const { root, app, dir } = options;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-snippets', private: true, type: 'module' }));
  const paths: Record<string, string[]> = {};
  for (const name of readdirSync(join(root, 'node_modules/@temporalio'))) {
    if (existsSync(join(app, 'node_modules/@temporalio', name))) continue;
    const manifest = JSON.parse(readFileSync(join(root, 'node_modules/@temporalio', name, 'package.json'), 'utf8')) as { types?: string };
    if (manifest.types) paths[`@temporalio/${name}`] = [join(root, 'node_modules/@temporalio', name, manifest.types)];
  }
  const tsconfig = {
    compilerOptions: {
      target: 'ES2022',
      lib: ['ES2022'],
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      noUncheckedIndexedAccess: true,
      // The repository's own setting. With it on (as `tsc --init` writes), the Temporal Cloud sample's
      // `apiKey: process.env.TEMPORAL_API_KEY` does not compile: NativeConnectionOptions.apiKey is `string`.
      exactOptionalPropertyTypes: false,
      verbatimModuleSyntax: true,
      isolatedModules: true,
      skipLibCheck: true,
      noEmit: true,
      types: ['node'],
      typeRoots: [join(root, 'node_modules/@types')],
      paths,
    },
    files: snippets.map((snippet) => snippet.fileName),
  };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  for (const snippet of snippets) writeFileSync(join(dir, snippet.fileName), [...snippet.preamble, snippet.code].join('\n') + '\n');

  const tsc = spawnSync(join(root, 'node_modules/.bin/tsc'), ['-p', dir, '--pretty', 'false', '--listFiles'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  if (tsc.error) throw tsc.error;
  const output = tsc.stdout + tsc.stderr;
  const byFile = new Map(snippets.map((snippet) => [snippet.fileName, snippet]));
  const errors = new Map<number, string[]>();
  const unattributed: string[] = [];
  const files: string[] = [];
  let last: string[] | undefined;
  for (const text of output.split('\n')) {
    const diagnostic = /^(.+?)\((\d+),(\d+)\): error (TS\d+: .*)$/.exec(text);
    if (diagnostic) {
      const [, file, line, column, message] = diagnostic;
      const snippet = byFile.get(file!);
      if (!snippet) {
        unattributed.push(text);
        last = unattributed;
        continue;
      }
      const codeLine = Number(line) - snippet.preamble.length;
      const where = codeLine >= 1
        ? `README.md:${snippet.line + codeLine - 1}:${column}`
        : `the preamble of the sample at README.md:${snippet.line} (test/package/readme-snippets.ts), line ${line}`;
      last = errors.get(snippet.index) ?? [];
      errors.set(snippet.index, last);
      last.push(`${where} ${message}`);
    } else if (/^\s+\S/.test(text) && last) {
      last[last.length - 1] += `\n${text.trim()}`; // the explanation tsc indents under an error
    } else if (/^error TS\d+/.test(text)) {
      unattributed.push(text);
      last = unattributed;
    } else if (text.trim() !== '') {
      files.push(text.trim());
      last = undefined;
    }
  }
  if (tsc.status !== 0 && errors.size === 0 && unattributed.length === 0) unattributed.push(`tsc exited ${tsc.status}:\n${output}`);
  return { errors, unattributed, files, output };
}
