// The process's argv, captured before main: glibc passes (argc, argv, envp) to ELF
// constructors. Swift's CommandLine.arguments on Linux is read from /proc/self/cmdline,
// which a minimal dom0 or initramfs may not have mounted.
#include "CDeviceModelShims.h"

static int saved_argc;
static char **saved_argv;

__attribute__((constructor)) static void swiftdm_capture_arguments(int argc, char **argv, char **envp) {
    (void)envp;
    saved_argc = argc;
    saved_argv = argv;
}

int swiftdm_process_argc(void) { return saved_argc; }

char *const *swiftdm_process_argv(void) { return saved_argv; }
