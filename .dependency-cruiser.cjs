/**
 * The house rules of DESIGN.md as checks (`npm run lint:deps`, part of
 * `npm test`): dependencies point down, the pipeline knows drivers and
 * builders only by their interfaces, and only the Docker code talks to the
 * engine. test/deps/rules.test.ts proves each rule fails on a bad import.
 */

/** Interfaces and small shared parts of runtime/ and router/ that sit below their implementations. */
const CONTRACT_FILES = '(runtime/(driver|kinds|exit-listeners|orphans|ports|command|ca-trust)|router/engine)\\.ts$';
const CONTRACTS = `^src/${CONTRACT_FILES}`;
/** The implementations: drivers, router engines, builders, git; peers that never import each other. */
const ENGINES = ['runtime', 'router', 'builder', 'git'];
/** An engine folder's modules, its contract files left out. */
const engine = (folder) => `^src/(?!${CONTRACT_FILES})${folder}/`;

/** Bottom to top: a module may import its own layer and the ones below, never one above. */
const LAYERS = [
  ['base', '^src/(errors|paths|crash-point|listen|stages)\\.ts$'],
  ['store', '^src/store/'],
  ['services', '^src/(auth|secrets|egress|logs|notify|releases|metrics|vendors)/'],
  ['contracts', CONTRACTS],
  ['guest', '^src/guest/'],
  ['docker', '^src/docker/'],
  // Hosts: the engines joined to the Swarm the server's engine manages; the swarm driver will sit above it.
  ['hosts', '^src/hosts/'],
  ['engines', engine(`(${ENGINES.join('|')})`)],
  // App settings: their schema checks with egress, auth and the builders; tls, commands and the pipeline read them.
  ['apps', '^src/apps/'],
  // Certificates: checks, the store's sealed keys, what the router engines serve, ACME and its renewal sweep.
  ['tls', '^src/tls/'],
  // Log drains: fed by the log writer (a tap in logs/) and the deploys' logs; ship under the egress rules.
  ['drains', '^src/drains/'],
  ['pipeline', '^src/pipeline/'],
  ['commands', '^src/(projects|commands)/'],
  // The dashboard is the API's other face: same context, same checks, registered by api/server.ts.
  ['api', '^src/(api|dashboard)/'],
  ['daemon', '^src/daemon/'],
  ['cli', '^src/cli/'],
];

/** Who may hold a dockerode client: the docker driver, the shared docker library, the hosts (Swarm membership), container and Dockerfile builds. */
const DOCKER_USERS =
  '^src/(docker|hosts|runtime/(docker|swarm))/|^src/builder/(container-build|dockerfile|dockerfile-from|docker-builder)\\.ts$';

const upward = LAYERS.slice(0, -1).map(([name, path], i) => ({
  name: `no-upward-from-${name}`,
  comment: `${name} sits below ${LAYERS.slice(i + 1)
    .map(([n]) => n)
    .join(', ')} (DESIGN.md: dependencies point down); move the shared part down instead`,
  severity: 'error',
  from: { path },
  to: {
    path: LAYERS.slice(i + 1)
      .map(([, p]) => `(${p})`)
      .join('|'),
  },
}));

const peers = ENGINES.map((folder) => ({
  name: `no-${folder}-to-other-engines`,
  comment: `${folder}/ is one implementation among runtime, router, builder and git; what they share lives in a lower layer (contracts, docker/, guest/)`,
  severity: 'error',
  from: { path: engine(folder) },
  to: {
    path: ENGINES.filter((f) => f !== folder)
      .map((f) => `(${engine(f)})`)
      .join('|'),
  },
}));

module.exports = {
  forbidden: [
    ...upward,
    ...peers,
    {
      name: 'no-dockerode-outside-docker',
      comment:
        'only runtime/docker, the docker library and container builds talk to the engine; others go through a Driver or an ImageBuilder',
      severity: 'error',
      from: { path: '^src/', pathNot: DOCKER_USERS },
      to: { path: '(^|/)node_modules/(@types/)?dockerode/|^dockerode$' },
    },
    {
      name: 'no-driver-to-other-driver',
      comment:
        'each driver stands alone; what drivers share (the launch command, ports, exit listeners) lives in runtime/ beside driver.ts',
      severity: 'error',
      from: { path: '^src/runtime/(process|docker)/' },
      to: { path: '^src/runtime/(process|docker)/', pathNot: '^src/runtime/$1/' },
    },
    {
      name: 'pipeline-only-through-interfaces',
      comment: 'the pipeline knows the Driver and Builder interfaces, never a driver implementation or the engine',
      severity: 'error',
      from: { path: '^src/pipeline/' },
      to: { path: '^src/(docker/|runtime/(process|docker|swarm|pty)/|runtime/(select|multiplexer)\\.ts$)' },
    },
    {
      name: 'cli-starts-light',
      comment:
        "every slipway command starts in cli/index.ts and, with the daemon up, only passes argv to its socket: the daemon, the command program and the engines are about a second of start-up, so they are imported where a path needs them (`await import(...)`), never at the CLI's top",
      severity: 'error',
      from: { path: '^src/cli/(index|client|remote|transport|login-file|cert-files|secret-prompt)\\.ts$' },
      to: {
        path: '^src/(commands|projects|daemon|api|pipeline|runtime|router|builder|docker|hosts|tls|git)/',
        dynamic: false,
        dependencyTypesNot: ['type-only'],
      },
    },
    {
      name: 'every-module-in-a-layer',
      comment: 'a module no layer names escapes every rule: add its folder to LAYERS',
      severity: 'error',
      from: { path: '^src/', pathNot: LAYERS.map(([, p]) => `(${p})`).join('|') },
      to: {},
    },
    {
      name: 'no-circular',
      comment:
        'a cycle makes two modules one; cut it at an interface. Type-only imports count too: a type two modules share moves down to a module both import (pipeline/context.ts holds the deploy types)',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // Type-only imports count: they are dependencies of the design all the same.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6'],
  },
};
