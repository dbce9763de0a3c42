/*
 * The build agent: runs a host build's steps (buildpacks' bin/detect,
 * bin/compile, bin/release, the copies and clones of buildpacks) inside the
 * build's one guest, as the daemon asks (builder/build-agent.ts). The daemon
 * drives the build itself; without this agent the guest would need a node of
 * its own, whose start was most of what a guest added to a deploy.
 *
 * It runs as the app's user, in the guest: it can do nothing the build's own
 * code could not. What it guards is the daemon's side. It is the guest's pid 1
 * (bwrap --as-pid-1: no init of bwrap's holds its pipes) and not dumpable, so
 * the steps it starts (the same uid) cannot open its pipes through /proc and
 * speak for it, nor signal it; the daemon still reads what comes as a
 * stranger's. And when a step exits, everything else in the guest is killed
 * (kill -1 from pid 1), setsid'd leftovers too: between steps nothing of the
 * app runs, so nothing can race the daemon as it reads the app's files.
 *
 * stdin, from the daemon: requests, one at a time, each a 4-byte
 * little-endian length and that many bytes of NUL-terminated strings: the
 * working directory, the number of arguments, the arguments, then the
 * environment (NAME=value) to the end. End of input: the build is over.
 *
 * stdout, to the daemon: frames of a kind byte, a 4-byte little-endian length
 * and the data. 'o' and 'e': the step's stdout and stderr as they come. Then
 * one of 'x', its end ("exit N" or "signal N"), or 'f', a step that could not
 * start (the errno of its chdir or exec, in decimal).
 *
 * Each step leads its own session; what is left of it when it exits is
 * killed, as on a build dyno. stdin of a step is /dev/null. (Run as anything
 * but a pid namespace's init, it ends only the step's own process group.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* A request is a command line and an environment: a few KB, and ARG_MAX bounds what exec takes anyway. */
#define MAX_REQUEST (8u << 20)
#define CHUNK 65536

static void die(const char *what) {
  fprintf(stderr, "slipway-build-agent: %s: %s\n", what, strerror(errno));
  exit(1);
}

/* 1: got all of it; 0: end of input before the first byte; exits on a short read or an error. */
static int read_full(int fd, void *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, (char *)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) die("read");
    if (r == 0) {
      if (got == 0) return 0;
      fprintf(stderr, "slipway-build-agent: a request ended early\n");
      exit(2);
    }
    got += (size_t)r;
  }
  return 1;
}

static void write_full(int fd, const void *buf, size_t n) {
  size_t put = 0;
  while (put < n) {
    ssize_t w = write(fd, (const char *)buf + put, n - put);
    if (w < 0 && errno == EINTR) continue;
    /* The daemon is gone: nobody is left to run steps for. */
    if (w < 0) exit(1);
    put += (size_t)w;
  }
}

static void frame(char kind, const void *data, uint32_t n) {
  unsigned char head[5] = {(unsigned char)kind, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff};
  write_full(1, head, sizeof head);
  if (n) write_full(1, data, n);
}

static void frame_text(char kind, const char *text) { frame(kind, text, (uint32_t)strlen(text)); }

/* Splits a request into its strings; 0 when it is not one. */
static int parse(char *buf, uint32_t len, char **cwd, char ***argv, char ***envp) {
  if (buf[len - 1] != '\0') return 0;
  size_t count = 0;
  for (uint32_t i = 0; i < len; i++) count += buf[i] == '\0';
  char **s = calloc(count + 2, sizeof *s);
  if (!s) die("calloc");
  size_t k = 0;
  for (uint32_t i = 0; i < len; i += (uint32_t)strlen(buf + i) + 1) s[k++] = buf + i;
  if (k < 3) return free(s), 0;
  char *end;
  errno = 0;
  unsigned long argc = strtoul(s[1], &end, 10);
  if (errno || *end || argc < 1 || argc > k - 2) return free(s), 0;
  *cwd = s[0];
  /* argv and envp share one array: argv ends where a NULL is put between them. */
  char **args = s + 2;
  memmove(args + argc + 1, args + argc, (k - 2 - argc) * sizeof *s);
  args[argc] = NULL;
  args[k - 1] = NULL;
  *argv = args;
  *envp = args + argc + 1;
  return 1;
}

/*
 * Reaps whatever has exited: as pid 1 the agent is every orphan's parent, and
 * zombies would hold the guest's pids limit. 1 when `step` was among them.
 */
static int reap(pid_t step, int *status) {
  int found = 0, st;
  for (pid_t w; (w = waitpid(-1, &st, WNOHANG)) > 0;)
    if (w == step) {
      *status = st;
      found = 1;
    }
  return found;
}

/* What a step left: everything in the guest but this agent, when it is the guest's init; else the step's group. */
static void end_leftovers(pid_t step) {
  if (getpid() == 1) kill(-1, SIGKILL);
  else kill(-step, SIGKILL);
}

static void run(char *cwd, char **argv, char **envp) {
  int out[2], err[2], fail[2];
  if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC) || pipe2(fail, O_CLOEXEC)) die("pipe");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  if (pid == 0) {
    setsid();
    signal(SIGPIPE, SIG_DFL);
    int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (nul < 0 || dup2(nul, 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) _exit(127);
    int e = 0;
    if (chdir(cwd) != 0) e = errno;
    else {
      /* execvp looks the command up on the step's own PATH. */
      environ = envp;
      execvp(argv[0], argv);
      e = errno;
    }
    write_full(fail[1], &e, sizeof e);
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  close(fail[1]);
  int e;
  ssize_t r;
  while ((r = read(fail[0], &e, sizeof e)) < 0 && errno == EINTR) {
  }
  close(fail[0]);
  if (r == (ssize_t)sizeof e) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    close(out[0]);
    close(err[0]);
    char text[16];
    snprintf(text, sizeof text, "%d", e);
    frame_text('f', text);
    return;
  }

  static char buf[CHUNK];
  struct pollfd p[2] = {{.fd = out[0], .events = POLLIN}, {.fd = err[0], .events = POLLIN}};
  int open_ = 2, reaped = 0, status = 0;
  while (open_ > 0) {
    /* Until it is reaped, look every so often: a step that exited is ended with all it left, which closes the pipes they held. */
    int n = poll(p, 2, reaped ? -1 : 100);
    if (n < 0 && errno != EINTR) die("poll");
    for (int i = 0; n > 0 && i < 2; i++) {
      if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t got = read(p[i].fd, buf, sizeof buf);
      if (got > 0) frame(i ? 'e' : 'o', buf, (uint32_t)got);
      else if (got == 0 || (errno != EINTR && errno != EAGAIN)) {
        close(p[i].fd);
        p[i].fd = -1;
        open_--;
      }
    }
    if (reap(pid, &status) && !reaped) {
      reaped = 1;
      end_leftovers(pid);
    }
  }
  while (!reaped) {
    int st;
    pid_t w = waitpid(-1, &st, 0);
    if (w < 0 && errno != EINTR) die("waitpid");
    if (w == pid) {
      reaped = 1;
      status = st;
      end_leftovers(pid);
    }
  }
  reap(pid, &status);
  char text[32];
  if (WIFSIGNALED(status)) snprintf(text, sizeof text, "signal %d", WTERMSIG(status));
  else snprintf(text, sizeof text, "exit %d", WEXITSTATUS(status));
  frame_text('x', text);
}

int main(void) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) die("prctl");
  /* A daemon that went away is a failed write (the agent then exits), not a signal. */
  signal(SIGPIPE, SIG_IGN);
  for (;;) {
    unsigned char head[4];
    if (!read_full(0, head, sizeof head)) return 0;
    uint32_t len = head[0] | head[1] << 8 | head[2] << 16 | (uint32_t)head[3] << 24;
    if (len == 0 || len > MAX_REQUEST) {
      fprintf(stderr, "slipway-build-agent: a request of %u bytes\n", len);
      return 2;
    }
    char *buf = malloc(len);
    if (!buf) die("malloc");
    if (!read_full(0, buf, len)) {
      fprintf(stderr, "slipway-build-agent: a request ended early\n");
      return 2;
    }
    char *cwd, **argv, **envp;
    if (!parse(buf, len, &cwd, &argv, &envp)) {
      fprintf(stderr, "slipway-build-agent: a request that is not cwd, argc, argv, env\n");
      return 2;
    }
    run(cwd, argv, envp);
    free(argv - 2);
    free(buf);
  }
}
