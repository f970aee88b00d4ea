/* SPDX-License-Identifier: Apache-2.0 */
/*
 * qtoken monitor: a Prometheus metrics endpoint (libmicrohttpd).  GET or
 * HEAD /metrics answers with the entropy pipeline counters of the shared
 * stats file (qt_ent_stats_read, the figures `qtoken status` prints), in the
 * Prometheus text exposition format 0.0.4: a # HELP and a # TYPE line per
 * family, the qtoken_ prefix, counters ending in _total.  Every other path
 * is 404, every other method 405.  The stats file is read afresh for every
 * scrape; the endpoint holds no secret and changes nothing.
 *
 * It binds to the one address given (default 127.0.0.1:9877, loopback), a
 * numeric IPv4 address or a bracketed IPv6 one; port 0 picks a free port.
 * The address actually bound is printed on stdout ("listening on
 * http://ADDR:PORT/metrics") so that a script can find it.  It runs until
 * SIGINT or SIGTERM, or with --once until one /metrics response was sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../entropy/ent.h"
#include "cli.h"
#include "cli_util.h"

#define DEFAULT_LISTEN "127.0.0.1:9877"
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct monitor {
    struct qt_conf conf;
    int once;
    int wake_fd;              /* write end of the self-pipe that ends the wait */
};

static int signal_fd = -1;    /* the self-pipe's write end, for the signal handler */

static void
usage(FILE *f)
{
    (void)fprintf(f,
                  "usage: qtoken monitor [--listen ADDR:PORT] [--once]\n\n"
                  "Serves the entropy pipeline counters of this store (QTOKEN_STORE, else the\n"
                  "config's [store] path) as Prometheus metrics on GET /metrics (other paths:\n"
                  "404).  Runs until SIGINT or SIGTERM.\n\n"
                  "  --listen ADDR:PORT  the one address to bind (default " DEFAULT_LISTEN ");\n"
                  "                      numeric IPv4, or [IPv6]:PORT; port 0 picks a free one\n"
                  "  --once              exit after one /metrics response was sent\n\n"
                  "The bound address is printed on stdout:\n"
                  "  listening on http://ADDR:PORT/metrics\n");
}

/* ---- the exposition text --------------------------------------------------- */

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
    (void)fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
counter(FILE *f, const char *name, const char *help, uint64_t v)
{
    family(f, name, "counter", help);
    (void)fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

static void
gauge(FILE *f, const char *name, const char *help, double v)
{
    family(f, name, "gauge", help);
    (void)fprintf(f, "%s %.17g\n", name, v);
}

static double
seconds_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The metrics text in a malloc'ed buffer (*out, *len).  QT_E_NOMEM, or the
 * stats file's read error other than QT_E_NOTFOUND (an absent file is
 * reported by qtoken_stats_present 0). */
static qt_rc
render(const struct monitor *mon, char **out, size_t *len)
{
    struct qt_ent_stats st;
    struct timespec t0;
    FILE *f;
    qt_rc rc;
    int present;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    rc = qt_ent_stats_read(&mon->conf, &st);
    if (rc != QT_OK && rc != QT_E_NOTFOUND) {
        return rc;
    }
    present = rc == QT_OK;
    if ((f = open_memstream(out, len)) == NULL) {
        return QT_E_NOMEM;
    }
    gauge(f, "qtoken_stats_present",
          "Whether the shared stats file exists (a process has used the entropy pipeline "
          "with this store).", present);
    gauge(f, "qtoken_device_up",
          "Whether the entropy source is healthy (1) or in the error state / unknown (0).",
          present && st.state == 0);
    if (present) {
        gauge(f, "qtoken_entropy_declared_bits_per_sample",
              "Min-entropy per raw sample declared for the device.", st.h_declared);
        gauge(f, "qtoken_entropy_estimated_bits_per_sample",
              "Current online min-entropy estimate per raw sample (SP 800-90B estimators).",
              st.h_estimate);
        counter(f, "qtoken_raw_samples_total",
                "Raw device samples read and health-tested.", st.raw_samples);
        counter(f, "qtoken_extracted_bits_total",
                "Full-entropy bits produced by the extractor.", st.bits_extracted);
        counter(f, "qtoken_served_bits_total",
                "Random output bits served to callers by the DRBG.",
                st.bits_served);
        family(f, "qtoken_health_failures_total", "counter",
               "Health test failures by test (rct, apt: SP 800-90B 4.4; block_repeat; "
               "estimate: online min-entropy below the declared value; read: device errors; "
               "drift: the bias / mean-drift monitor).");
        (void)fprintf(f,
                      "qtoken_health_failures_total{test=\"rct\"} %llu\n"
                      "qtoken_health_failures_total{test=\"apt\"} %llu\n"
                      "qtoken_health_failures_total{test=\"block_repeat\"} %llu\n"
                      "qtoken_health_failures_total{test=\"estimate\"} %llu\n"
                      "qtoken_health_failures_total{test=\"read\"} %llu\n"
                      "qtoken_health_failures_total{test=\"drift\"} %llu\n",
                      (unsigned long long)st.failures_rct, (unsigned long long)st.failures_apt,
                      (unsigned long long)st.failures_block_repeat,
                      (unsigned long long)st.failures_estimate,
                      (unsigned long long)st.failures_read,
                      (unsigned long long)st.failures_drift);
        counter(f, "qtoken_health_startup_runs_total",
                "Start-up health tests run (SP 800-90B 4.3).", st.startup_runs);
        counter(f, "qtoken_drbg_reseeds_total", "DRBG reseeds from the QRNG.", st.reseeds);
    }
    gauge(f, "qtoken_scrape_duration_seconds",
          "Time this scrape took to read the stats file and format the metrics.",
          seconds_since(&t0));
    if (fclose(f) != 0) {
        free(*out);
        *out = NULL;
        return QT_E_NOMEM;
    }
    return QT_OK;
}

/* ---- the HTTP side ------------------------------------------------------------ */

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned int status, const char *type, char *body,
      size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r;
    enum MHD_Result ret;

    r = MHD_create_response_from_buffer(len, body, mode);
    if (r == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE) {
            free(body);
        }
        return MHD_NO;
    }
    (void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        (void)MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result
handle(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
       const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    static char not_found[] = "not found: the metrics are at /metrics\n";
    static char not_allowed[] = "method not allowed\n";
    static char failed[] = "cannot read the stats file\n";
    const struct monitor *mon = cls;
    char *body = NULL;
    size_t len = 0;
    qt_rc rc;

    (void)version;
    (void)upload;
    if (*con_cls == NULL) {
        /* first call for this request: headers only; answer on the next */
        *con_cls = (void *)1;
        return MHD_YES;
    }
    if (*upload_len != 0) {
        *upload_len = 0; /* a body is not read */
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0) {
        return reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", not_found, strlen(not_found),
                     MHD_RESPMEM_PERSISTENT);
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain", not_allowed,
                     strlen(not_allowed), MHD_RESPMEM_PERSISTENT);
    }
    if ((rc = render(mon, &body, &len)) != QT_OK) {
        (void)fprintf(stderr, "qtoken monitor: cannot read the stats file under %s: %s\n",
                      mon->conf.store_path, qt_rc_str(rc));
        return reply(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "text/plain", failed, strlen(failed),
                     MHD_RESPMEM_PERSISTENT);
    }
    /* marks the request as a metrics answer for --once (see completed) */
    *con_cls = (void *)2;
    return reply(conn, MHD_HTTP_OK, CONTENT_TYPE, body, len, MHD_RESPMEM_MUST_FREE);
}

static void
completed(void *cls, struct MHD_Connection *conn, void **con_cls,
          enum MHD_RequestTerminationCode toe)
{
    const struct monitor *mon = cls;
    char b = 'x';

    (void)conn;
    if (mon->once && *con_cls == (void *)2 && toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        (void)!write(mon->wake_fd, &b, 1);
    }
    *con_cls = NULL;
}

static void
on_signal(int sig)
{
    char b = 's';
    int saved = errno;

    (void)sig;
    if (signal_fd >= 0) {
        (void)!write(signal_fd, &b, 1);
    }
    errno = saved;
}

/* Parses ADDR:PORT (numeric IPv4, or [IPv6]:PORT) into *ss. */
static int
parse_listen(const char *spec, struct sockaddr_storage *ss, socklen_t *sslen)
{
    struct addrinfo hints, *res = NULL;
    char host[INET6_ADDRSTRLEN + 2];
    const char *colon, *port, *h = spec;
    size_t hlen;

    if ((colon = strrchr(spec, ':')) == NULL) {
        return -1;
    }
    port = colon + 1;
    hlen = (size_t)(colon - spec);
    if (hlen >= 2 && spec[0] == '[' && spec[hlen - 1] == ']') {
        h = spec + 1;
        hlen -= 2;
    } else if (memchr(spec, ':', hlen) != NULL) {
        return -1; /* an IPv6 address needs brackets */
    }
    if (hlen == 0 || hlen >= sizeof(host) || *port == '\0' ||
        strspn(port, "0123456789") != strlen(port) || strlen(port) > 5 || atoi(port) > 65535) {
        return -1;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL) {
        return -1;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *sslen = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static void
print_bound(const struct sockaddr_storage *ss, unsigned port)
{
    char host[INET6_ADDRSTRLEN];

    if (ss->ss_family == AF_INET6) {
        (void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host,
                        sizeof(host));
        (void)printf("listening on http://[%s]:%u/metrics\n", host, port);
    } else {
        (void)inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof(host));
        (void)printf("listening on http://%s:%u/metrics\n", host, port);
    }
    (void)fflush(stdout);
}

static int
serve(struct monitor *mon, const struct sockaddr_storage *ss)
{
    struct MHD_Daemon *d;
    const union MHD_DaemonInfo *info;
    struct sigaction sa, old_int, old_term;
    struct pollfd pfd;
    unsigned port;
    int pipefd[2], ret = QT_EXIT_FAIL;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG | MHD_USE_POLL;

    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        (void)fprintf(stderr, "qtoken monitor: pipe: %s\n", strerror(errno));
        return QT_EXIT_FAIL;
    }
    mon->wake_fd = pipefd[1];
    signal_fd = pipefd[1];
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGINT, &sa, &old_int);
    (void)sigaction(SIGTERM, &sa, &old_term);
    if (ss->ss_family == AF_INET6) {
        flags |= MHD_USE_IPv6;
    }
    port = ntohs(ss->ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)ss)->sin6_port
                                          : ((const struct sockaddr_in *)ss)->sin_port);
    d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, handle, mon, MHD_OPTION_SOCK_ADDR,
                         (const struct sockaddr *)ss, MHD_OPTION_NOTIFY_COMPLETED, completed,
                         mon, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)32, MHD_OPTION_END);
    if (d == NULL) {
        (void)fprintf(stderr, "qtoken monitor: cannot listen on the given address (in use or "
                              "not local?)\n");
        ret = QT_EXIT_USAGE;
        goto out;
    }
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    print_bound(ss, info != NULL ? info->port : port);
    pfd.fd = pipefd[0];
    pfd.events = POLLIN;
    while (poll(&pfd, 1, -1) < 0 && errno == EINTR) {
        /* a signal: its byte is in the pipe now */
    }
    MHD_stop_daemon(d);
    ret = QT_EXIT_OK;
out:
    (void)sigaction(SIGINT, &old_int, NULL);
    (void)sigaction(SIGTERM, &old_term, NULL);
    signal_fd = -1;
    close(pipefd[0]);
    close(pipefd[1]);
    return ret;
}

int
qt_cmd_monitor(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},
        {"once", no_argument, NULL, '1'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct monitor mon;
    struct sockaddr_storage ss;
    socklen_t sslen = 0;
    const char *listen_spec = DEFAULT_LISTEN;
    int c, ret;

    memset(&mon, 0, sizeof(mon));
    optind = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen_spec = optarg;
            break;
        case '1':
            mon.once = 1;
            break;
        case 'h':
            usage(stdout);
            return QT_EXIT_OK;
        default:
            usage(stderr);
            return QT_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return QT_EXIT_USAGE;
    }
    memset(&ss, 0, sizeof(ss));
    if (parse_listen(listen_spec, &ss, &sslen) != 0) {
        (void)fprintf(stderr, "qtoken monitor: --listen wants ADDR:PORT (numeric IPv4 or "
                              "[IPv6]), got '%s'\n",
                      listen_spec);
        return QT_EXIT_USAGE;
    }
    if ((ret = qt_cli_conf("monitor", NULL, &mon.conf)) != QT_EXIT_OK) {
        return ret;
    }
    return serve(&mon, &ss);
}
