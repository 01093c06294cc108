// pixman through Swift: the library's own header, nothing wrapped. Display surfaces and
// virtio-gpu resources are pixman images; Swift decides what to blit where.
#include <pixman.h>
