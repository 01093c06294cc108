#include <xendevicemodel.h>
#include <xenforeignmemory.h>
#include <xenevtchn.h>
#include <xenstore.h>
#include <xen/hvm/ioreq.h>
