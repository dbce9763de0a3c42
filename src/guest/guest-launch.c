/*
 * slipway-guest-launch: the root half of a guest's launch (see launch.ts) in
 * one program instead of four (unshare, bash, mount, setpriv). Each program
 * started costs several ms here, tens on a busy host, and a guest starts for
 * every build and instance: this is most of what the launch chain costs
 * before bwrap.
 *
 *   slipway-guest-launch --uid U --gid G --args FILE
 *       [--cgroup PROCS]... [--overlay LOWER UPPER WORK POINT]... [--bind SOURCE POINT]...
 *       -- bwrap --args 3 -- ARGV...
 *
 * In order, as the daemon's root, in a mount namespace of its own:
 *  1. closes every descriptor but stdio (only stdio reaches the guest);
 *  2. joins the guest's cgroups, so everything after is counted and killable;
 *  3. moves bwrap's options (they hold the app's environment) from FILE into
 *     an anonymous memory file on fd 3 and empties FILE: no secret stays on
 *     disk while the guest runs, and none travels as argv or environment;
 *  4. makes its mounts private, then mounts what the guest will see onto its
 *     staging points: the release as an overlay (a writable, ephemeral /app),
 *     bind mounts of host paths;
 *  5. drops to the app's uid/gid with no supplementary groups, an empty
 *     bounding set, no capabilities and no_new_privs;
 *  6. execs bwrap, unprivileged.
 *
 * Every argument comes from the daemon, never from a user: paths are checked
 * there (launch.ts checkPath). Not installed setuid: it has the privileges of
 * whoever runs it, and is useless to anyone but root.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_MOUNTS 64
#define MAX_CGROUPS 8

static void die(const char *what, const char *arg) {
  fprintf(stderr, "slipway-guest-launch: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "", strerror(errno));
  exit(125);
}

static void usage(const char *why) {
  fprintf(stderr, "slipway-guest-launch: %s\n", why);
  exit(125);
}

struct mount_op {
  int overlay;
  const char *source; /* bind: host path; overlay: lower dir */
  const char *upper, *work, *point;
};

static unsigned long number(const char *s) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (errno || *end || end == s || v > 0x7fffffffUL) usage("a uid or gid is not a number");
  return v;
}

static void close_others(void) {
#ifdef SYS_close_range
  if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0) return;
#endif
  long max = sysconf(_SC_OPEN_MAX);
  for (long fd = 3; fd < (max > 0 ? max : 65536); fd++) close((int)fd);
}

static void join_cgroup(const char *procs) {
  char pid[32];
  int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  int fd = open(procs, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, pid, (size_t)n) != n) die("cannot join the cgroup", procs);
  close(fd);
}

/* The options file's content on fd 3, an anonymous file; the file itself is left empty. */
static void options_to_fd3(const char *file) {
  int in = open(file, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
  if (in < 0) die("cannot open", file);
  int mem = (int)syscall(SYS_memfd_create, "bwrap-args", 0U);
  if (mem < 0) die("cannot create a memory file", NULL);
  char buf[65536];
  ssize_t r;
  while ((r = read(in, buf, sizeof buf)) > 0) {
    for (ssize_t off = 0; off < r;) {
      ssize_t w = write(mem, buf + off, (size_t)(r - off));
      if (w < 0) die("cannot write the memory file", NULL);
      off += w;
    }
  }
  if (r < 0) die("cannot read", file);
  if (ftruncate(in, 0) != 0) die("cannot empty", file);
  close(in);
  if (lseek(mem, 0, SEEK_SET) != 0) die("cannot rewind the memory file", NULL);
  if (mem != 3) {
    if (dup2(mem, 3) != 3) die("cannot move the memory file to fd 3", NULL);
    close(mem);
  }
}

static void do_mount(const struct mount_op *m) {
  if (m->overlay) {
    char opts[4096];
    int n = snprintf(opts, sizeof opts, "lowerdir=%s,upperdir=%s,workdir=%s", m->source, m->upper, m->work);
    if (n < 0 || (size_t)n >= sizeof opts) usage("overlay paths are too long");
    if (mount("slipway-app", m->point, "overlay", MS_NOSUID | MS_NODEV, opts) != 0) die("cannot mount the overlay on", m->point);
  } else if (mount(m->source, m->point, NULL, MS_BIND, NULL) != 0) {
    die("cannot bind", m->source);
  }
}

static int last_cap(void) {
  int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  char buf[16] = {0};
  if (fd >= 0) {
    ssize_t r = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (r > 0) return atoi(buf);
  }
  return CAP_LAST_CAP;
}

static void drop_to(uid_t uid, gid_t gid) {
  /* The bounding set needs CAP_SETPCAP, so it goes while still root. */
  int last = last_cap();
  for (int cap = 0; cap <= last; cap++)
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) die("cannot drop a capability from the bounding set", NULL);
  if (setgroups(0, NULL) != 0) die("cannot clear the supplementary groups", NULL);
  if (setresgid(gid, gid, gid) != 0) die("cannot set the gid", NULL);
  if (setresuid(uid, uid, uid) != 0) die("cannot set the uid", NULL);
  /* From root to another uid the kernel clears the effective and permitted sets; the inheritable and ambient ones go here. */
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capset, &hdr, data) != 0) die("cannot clear the capabilities", NULL);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) die("cannot clear the ambient capabilities", NULL);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) die("cannot set no_new_privs", NULL);
  if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid) usage("still privileged after the drop");
}

int main(int argc, char **argv) {
  const char *args_file = NULL, *cgroups[MAX_CGROUPS];
  struct mount_op mounts[MAX_MOUNTS];
  int ncgroups = 0, nmounts = 0, have_uid = 0, have_gid = 0, i = 1;
  uid_t uid = 0;
  gid_t gid = 0;
  for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
    const char *o = argv[i];
    int left = argc - i - 1;
    if (!strcmp(o, "--uid") && left >= 1) uid = (uid_t)number(argv[++i]), have_uid = 1;
    else if (!strcmp(o, "--gid") && left >= 1) gid = (gid_t)number(argv[++i]), have_gid = 1;
    else if (!strcmp(o, "--args") && left >= 1) args_file = argv[++i];
    else if (!strcmp(o, "--cgroup") && left >= 1) {
      if (ncgroups == MAX_CGROUPS) usage("too many cgroups");
      cgroups[ncgroups++] = argv[++i];
    } else if (!strcmp(o, "--overlay") && left >= 4) {
      if (nmounts == MAX_MOUNTS) usage("too many mounts");
      mounts[nmounts++] = (struct mount_op){1, argv[i + 1], argv[i + 2], argv[i + 3], argv[i + 4]};
      i += 4;
    } else if (!strcmp(o, "--bind") && left >= 2) {
      if (nmounts == MAX_MOUNTS) usage("too many mounts");
      mounts[nmounts++] = (struct mount_op){0, argv[i + 1], NULL, NULL, argv[i + 2]};
      i += 2;
    } else usage("unknown or incomplete option");
  }
  if (i >= argc - 1 || !args_file || !have_uid || !have_gid) usage("needs --uid, --gid, --args and a command after --");
  /* Root stays root nowhere in a guest. */
  if (uid == 0 || gid == 0) usage("refusing to run a guest as root");

  close_others();
  for (int c = 0; c < ncgroups; c++) join_cgroup(cgroups[c]);
  options_to_fd3(args_file);
  if (unshare(CLONE_NEWNS) != 0) die("cannot make a mount namespace", NULL);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) die("cannot make the mounts private", NULL);
  for (int m = 0; m < nmounts; m++) do_mount(&mounts[m]);
  drop_to(uid, gid);
  execvp(argv[i + 1], &argv[i + 1]);
  die("cannot run", argv[i + 1]);
  return 125;
}
