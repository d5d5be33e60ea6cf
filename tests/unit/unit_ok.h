/* OK(call): the call must return MF_OK, else the test fails with the
 * error's detail. The test declares the `static struct mf_err e` its calls
 * fill. */
#ifndef MF_TESTS_UNIT_OK_H
#define MF_TESTS_UNIT_OK_H

#define OK(call)                                                                             \
    do {                                                                                     \
        if ((call) != MF_OK)                                                                 \
            fail_msg("%s: %s", #call, e.detail);                                             \
    } while (0)

#endif
