/* A librdkafka plugin for tests: it makes the producer fail fatally, as an idempotent producer
 * does when the broker's and the producer's sequence numbers no longer agree, something no real
 * broker can be made to do on demand.
 *
 * Load it with the producer property plugin.library.paths=<path of this .so>. After the
 * PULSE_TEST_FATAL_AFTER'th message handed to produce() (default 3) it calls librdkafka's
 * rd_kafka_test_fatal_error(), which raises the same fatal error a real one does; nothing in
 * the program under test has to know about it, so the shipped binary can be tested as is. */
#include <librdkafka/rdkafka.h>

#include <stdlib.h>

static const char *const kName = "pulse-test-fatal-error";

/* One count per producer handle, so that every handle of a process fails the same way. */
static rd_kafka_resp_err_t on_send(rd_kafka_t *rk, rd_kafka_message_t *message, void *opaque) {
    (void)message;
    long *sent = opaque;
    const char *after = getenv("PULSE_TEST_FATAL_AFTER");
    long limit = after != NULL ? atol(after) : 3;
    if (++*sent == limit) {
        rd_kafka_test_fatal_error(rk, RD_KAFKA_RESP_ERR_OUT_OF_ORDER_SEQUENCE_NUMBER,
                                  "raised by the test plugin");
    }
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t on_destroy(rd_kafka_t *rk, void *opaque) {
    (void)rk;
    free(opaque);
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static rd_kafka_resp_err_t on_new(rd_kafka_t *rk, const rd_kafka_conf_t *conf, void *opaque,
                                  char *errstr, size_t errstr_size) {
    (void)conf;
    (void)opaque;
    (void)errstr;
    (void)errstr_size;
    long *sent = calloc(1, sizeof *sent);
    if (sent == NULL) {
        return RD_KAFKA_RESP_ERR__FAIL;
    }
    rd_kafka_interceptor_add_on_send(rk, kName, on_send, sent);
    return rd_kafka_interceptor_add_on_destroy(rk, kName, on_destroy, sent);
}

static void add_interceptors(rd_kafka_conf_t *conf);

/* The C++ API copies the configuration before it creates the handle: follow the copy. */
static rd_kafka_resp_err_t on_conf_dup(rd_kafka_conf_t *new_conf, const rd_kafka_conf_t *old_conf,
                                       size_t filter_cnt, const char **filter, void *opaque) {
    (void)old_conf;
    (void)filter_cnt;
    (void)filter;
    (void)opaque;
    add_interceptors(new_conf);
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void add_interceptors(rd_kafka_conf_t *conf) {
    rd_kafka_conf_interceptor_add_on_new(conf, kName, on_new, NULL);
    rd_kafka_conf_interceptor_add_on_conf_dup(conf, kName, on_conf_dup, NULL);
}

rd_kafka_resp_err_t conf_init(rd_kafka_conf_t *conf, void **plug_opaquep, char *errstr,
                              size_t errstr_size);

rd_kafka_resp_err_t conf_init(rd_kafka_conf_t *conf, void **plug_opaquep, char *errstr,
                              size_t errstr_size) {
    (void)plug_opaquep;
    (void)errstr;
    (void)errstr_size;
    add_interceptors(conf);
    return RD_KAFKA_RESP_ERR_NO_ERROR;
}
