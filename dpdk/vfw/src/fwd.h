/* Router mode: ARP for the vFW's own addresses, ARP learning and requests for next hops, IPv4
 * forwarding between the two subnets with TTL decrement, checksum fix and MAC rewrite, the rules
 * applied to every routed packet. */
#ifndef VFW_FWD_H
#define VFW_FWD_H

#include "app.h"

/* one poll round over both ports; the number of packets received */
unsigned vfw_fwd_poll(struct vfw_app *app);
/* housekeeping: ARP retries, held packets whose next hop never answered */
void vfw_fwd_timer(struct vfw_app *app);
/* free every held packet (at exit) */
void vfw_fwd_release(struct vfw_app *app);

#endif
