/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The chardev device over a FIFO in a temporary directory, fed by a writer
 * thread: short reads, 16-bit samples split across writes, EINTR during the
 * wait, the timeout with no writer and after the writer left (and resuming
 * when a writer comes back), fd identity re-validation; plus /dev/urandom
 * as a real character device.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../../device/dev.h"

static char tmpdir[64];
static char fifo[128];

static void
setup(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/qt-chardev-XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(fifo, sizeof(fifo), "%s/qrandom", tmpdir);
    cr_assert_eq(mkfifo(fifo, 0600), 0);
    signal(SIGPIPE, SIG_IGN);
}

static void
teardown(void)
{
    unlink(fifo);
    rmdir(tmpdir);
}

static double
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

static void
sleep_us(long us)
{
    struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (us % 1000000) * 1000};

    while (nanosleep(&ts, &ts) != 0) {
    }
}

struct writer {
    const uint8_t *data;
    size_t len;
    const size_t *chunks; /* cycled chunk sizes */
    size_t nchunks;
    long pause_us;        /* between chunks */
    long start_us;        /* before opening */
    pthread_t kill_target;
    int kills;            /* SIGUSR1 sent to kill_target before writing */
};

static void *
writer_main(void *arg)
{
    struct writer *w = arg;
    size_t off = 0;
    int fd;

    sleep_us(w->start_us);
    for (int i = 0; i < w->kills; i++) {
        pthread_kill(w->kill_target, SIGUSR1);
        sleep_us(10000);
    }
    fd = open(fifo, O_WRONLY | O_CLOEXEC);
    if (fd < 0) {
        return (void *)1;
    }
    for (size_t k = 0; off < w->len; k++) {
        size_t n = w->chunks[k % w->nchunks];
        ssize_t r;
        if (n > w->len - off) {
            n = w->len - off;
        }
        r = write(fd, w->data + off, n);
        if (r <= 0) {
            close(fd);
            return (void *)2;
        }
        off += (size_t)r;
        if (w->pause_us > 0) {
            sleep_us(w->pause_us);
        }
    }
    close(fd);
    return NULL;
}

static void
fill_pattern(uint8_t *p, size_t n, uint64_t x)
{
    for (size_t i = 0; i < n; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        p[i] = (uint8_t)(x >> 56);
    }
}

static void
join_ok(pthread_t t)
{
    void *ret = (void *)3;

    cr_assert_eq(pthread_join(t, &ret), 0);
    cr_assert_null(ret, "writer failed");
}

Test(dev_chardev, fifo_bytes_in_short_writes, .init = setup, .fini = teardown)
{
    static const size_t chunks[] = {1, 7, 37, 2, 300, 5};
    enum { N = 20000 };
    uint8_t *data = malloc(N);
    uint16_t *out = calloc(N, sizeof(*out));
    struct writer w = {.data = data, .len = N, .chunks = chunks, .nchunks = 6, .pause_us = 20};
    struct qt_dev *d = NULL;
    struct qt_dev_info info;
    char spec[256];
    pthread_t t;

    fill_pattern(data, N, 1);
    snprintf(spec, sizeof(spec), "chardev:%s,bits=8,h=7.5", fifo);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
    qt_dev_info(d, &info);
    cr_assert_str_eq(info.type, "chardev");
    cr_assert_eq(strncmp(info.serial, "CHR-", 4), 0);
    cr_assert_eq(info.bits, 8);
    cr_assert_float_eq(info.h_declared, 7.5, 1e-12);
    cr_assert_eq(info.simulated, 0);
    cr_assert_not_null(strstr(info.detail, "fifo"));
    cr_assert_eq(pthread_create(&t, NULL, writer_main, &w), 0);
    cr_assert_eq(qt_dev_read_full(d, out, N, 2000), QT_OK);
    join_ok(t);
    for (size_t i = 0; i < N; i++) {
        cr_assert_eq(out[i], data[i], "sample %zu", i);
    }
    qt_dev_close(d);
    free(out);
    free(data);
}

Test(dev_chardev, fifo_sixteen_bit_samples_split_across_writes, .init = setup, .fini = teardown)
{
    static const size_t chunks[] = {1, 3, 2, 5, 1, 1, 4097};
    enum { N = 10000 };
    uint8_t *data = malloc(2 * N);
    uint16_t *out = calloc(N, sizeof(*out));
    struct writer w = {.data = data, .len = 2 * N, .chunks = chunks, .nchunks = 7, .pause_us = 50};
    struct qt_dev *d = NULL;
    char spec[256];
    pthread_t t;

    fill_pattern(data, 2 * N, 2);
    snprintf(spec, sizeof(spec), "chardev:%s,bits=12,h=11", fifo);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
    cr_assert_eq(pthread_create(&t, NULL, writer_main, &w), 0);
    cr_assert_eq(qt_dev_read_full(d, out, N, 2000), QT_OK);
    join_ok(t);
    for (size_t i = 0; i < N; i++) {
        uint16_t v = (uint16_t)(data[2 * i] | (data[2 * i + 1] << 8));
        cr_assert_eq(out[i], v & 0x0fff, "sample %zu", i);
    }
    qt_dev_close(d);
    free(out);
    free(data);
}

Test(dev_chardev, timeout_with_no_writer, .init = setup, .fini = teardown)
{
    struct qt_dev *d = NULL;
    uint16_t x[4];
    size_t got = 7;
    char spec[256];
    double t0;
    double dt;

    snprintf(spec, sizeof(spec), "chardev:%s,bits=8,h=1", fifo);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
    t0 = now_ms();
    cr_assert_eq(d->ops->read(d, x, 4, &got, 100), QT_E_TIMEOUT);
    dt = now_ms() - t0;
    cr_assert_eq(got, 0);
    cr_assert(dt >= 99.0 && dt < 1000.0, "waited %f ms", dt);
    t0 = now_ms();
    cr_assert_eq(qt_dev_read_full(d, x, 4, 0), QT_E_TIMEOUT);
    cr_assert_lt(now_ms() - t0, 50.0);
    cr_assert_eq(qt_dev_read_full(d, x, 4, -1), QT_E_ARG);
    qt_dev_close(d);
}

Test(dev_chardev, writer_gone_times_out_then_resumes, .init = setup, .fini = teardown)
{
    static const size_t chunks[] = {64};
    uint8_t data[100];
    uint16_t out[100];
    struct writer w = {.data = data, .len = 100, .chunks = chunks, .nchunks = 1};
    struct qt_dev *d = NULL;
    char spec[256];
    pthread_t t;
    double t0;
    double dt;

    fill_pattern(data, sizeof(data), 3);
    snprintf(spec, sizeof(spec), "chardev:%s,bits=8,h=1", fifo);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
    cr_assert_eq(pthread_create(&t, NULL, writer_main, &w), 0);
    cr_assert_eq(qt_dev_read_full(d, out, 100, 2000), QT_OK);
    join_ok(t);
    cr_assert_eq(out[99], data[99]);
    /* The writer closed: EOF is "no data", bounded by the timeout. */
    t0 = now_ms();
    cr_assert_eq(qt_dev_read_full(d, out, 1, 120), QT_E_TIMEOUT);
    dt = now_ms() - t0;
    cr_assert(dt >= 119.0 && dt < 1000.0, "waited %f ms", dt);
    /* A new writer: reading resumes. */
    fill_pattern(data, sizeof(data), 4);
    w.start_us = 30000;
    cr_assert_eq(pthread_create(&t, NULL, writer_main, &w), 0);
    cr_assert_eq(qt_dev_read_full(d, out, 100, 2000), QT_OK);
    join_ok(t);
    for (size_t i = 0; i < 100; i++) {
        cr_assert_eq(out[i], data[i]);
    }
    qt_dev_close(d);
}

static atomic_int signals_seen;

static void
on_usr1(int sig)
{
    (void)sig;
    atomic_fetch_add(&signals_seen, 1);
}

Test(dev_chardev, eintr_during_the_wait_is_retried, .init = setup, .fini = teardown)
{
    static const size_t chunks[] = {16};
    uint8_t data[64];
    uint16_t out[64];
    struct writer w = {.data = data, .len = 64, .chunks = chunks, .nchunks = 1, .start_us = 20000,
                       .kill_target = pthread_self(), .kills = 5};
    struct sigaction sa;
    struct qt_dev *d = NULL;
    char spec[256];
    pthread_t t;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_usr1;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll() and read() see EINTR */
    cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
    fill_pattern(data, sizeof(data), 5);
    snprintf(spec, sizeof(spec), "chardev:%s,bits=8,h=1", fifo);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
    cr_assert_eq(pthread_create(&t, NULL, writer_main, &w), 0);
    cr_assert_eq(qt_dev_read_full(d, out, 64, 3000), QT_OK);
    join_ok(t);
    cr_assert_eq(atomic_load(&signals_seen), 5);
    for (size_t i = 0; i < 64; i++) {
        cr_assert_eq(out[i], data[i]);
    }
    qt_dev_close(d);
}

/* The fd number the device holds for path (found through /proc). */
static int
fd_of(const char *path)
{
    DIR *dir = opendir("/proc/self/fd");
    struct dirent *e;
    int found = -1;

    cr_assert_not_null(dir);
    while ((e = readdir(dir)) != NULL) {
        char link[300];
        char target[PATH_MAX];
        ssize_t n;
        snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
        n = readlink(link, target, sizeof(target) - 1);
        if (n > 0) {
            target[n] = '\0';
            if (strcmp(target, path) == 0) {
                found = atoi(e->d_name);
            }
        }
    }
    closedir(dir);
    return found;
}

Test(dev_chardev, reused_fd_number_is_detected, .init = setup, .fini = teardown)
{
    struct qt_dev *d = NULL;
    uint16_t x[4];
    char spec[256];
    int fd;
    int other;

    snprintf(spec, sizeof(spec), "chardev:%s,bits=8,h=1", fifo);
    cr_assert_eq(qt_dev_open(spec, &d), QT_OK);
    fd = fd_of(fifo);
    cr_assert_geq(fd, 0);
    /* The host closes "our" fd and something else gets the number. */
    other = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    cr_assert_geq(other, 0);
    cr_assert_eq(dup2(other, fd), fd);
    close(other);
    cr_assert_eq(qt_dev_read_full(d, x, 4, 10), QT_E_DEVICE, "never zeros from /dev/zero");
    /* Closed altogether. */
    close(fd);
    cr_assert_eq(qt_dev_read_full(d, x, 4, 10), QT_E_DEVICE);
    qt_dev_close(d);
}

Test(dev_chardev, urandom_as_a_character_device)
{
    struct qt_dev *d = NULL;
    struct qt_dev_info info;
    uint16_t *x = calloc(100000, sizeof(*x));
    unsigned seen[16] = {0};
    int big = 0;

    cr_assert_eq(qt_dev_open("chardev:/dev/urandom,bits=4,h=4", &d), QT_OK);
    qt_dev_info(d, &info);
    cr_assert_not_null(strstr(info.detail, "character device"));
    cr_assert_eq(qt_dev_read_full(d, x, 100000, 1000), QT_OK);
    for (size_t i = 0; i < 100000; i++) {
        cr_assert_lt(x[i], 16);
        seen[x[i]]++;
    }
    for (int v = 0; v < 16; v++) {
        cr_assert_gt(seen[v], 5000);
    }
    qt_dev_close(d);
    cr_assert_eq(qt_dev_open("chardev:/dev/urandom,bits=16,h=16", &d), QT_OK);
    cr_assert_eq(qt_dev_read_full(d, x, 100000, 1000), QT_OK);
    for (size_t i = 0; i < 100000; i++) {
        big |= x[i] > 0xff00;
    }
    cr_assert(big, "both bytes of each sample are used");
    qt_dev_close(d);
    free(x);
}

Test(dev_chardev, device_at_end_of_file_times_out)
{
    struct qt_dev *d = NULL;
    uint16_t x[4];
    double t0;
    double dt;

    /* /dev/null reads 0 bytes forever: no data, bounded by the timeout. */
    cr_assert_eq(qt_dev_open("chardev:/dev/null,bits=8,h=1", &d), QT_OK);
    t0 = now_ms();
    cr_assert_eq(qt_dev_read_full(d, x, 4, 60), QT_E_TIMEOUT);
    dt = now_ms() - t0;
    cr_assert(dt >= 59.0 && dt < 1000.0, "waited %f ms", dt);
    qt_dev_close(d);
}
