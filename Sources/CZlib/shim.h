// zlib through Swift: the library's own header, nothing wrapped. ZRLE (RFC 6143 §7.7.6)
// keeps one deflate stream per VNC client; PNG screenshots deflate their IDAT.
#include <zlib.h>
