/// The guest-kit script that measures a guest's network against an iperf3 server on the host
/// side of its tap (``IperfTapNetwork``): eth0 up with busybox `ip`, the driver and negotiated
/// virtio feature bits, a ping, then iperf3 for ``seconds`` each way, and eth0's counters. It
/// reports as `key=value` lines (``GuestRun/reported(_:)``; ``IperfResult`` reads the iperf3 ones):
/// `driver`, `vfeatures`, `ping-status`, `up-status` and `down-status` (guest→host and
/// host→guest), `up-mbytes`, `up-mbits`, `up-retr` and the same for `down`, and `rx_errors`,
/// `tx_errors`, `rx_dropped`, `tx_dropped`, `rx_packets`, `tx_packets`.
public struct IperfGuestScript: Sendable {
    /// The iperf3 server's address (the tap's, on the host side) and the guest's own.
    public var hostAddress: String
    public var guestAddress: String
    /// The guest address's prefix length.
    public var prefixLength: Int
    /// How long each direction runs.
    public var seconds: Int
    /// Queue pairs the device offers: with more than one, the script also reports the queues
    /// Linux set up (`netqueues`, e.g. `rx-0,rx-1,tx-0,tx-1,`) and pings from vCPUs 0 and 1
    /// (`ping-cpu0`, `ping-cpu1`: each sends on its own tx queue).
    public var queues: Int
    /// Where the guest runs the device's interrupts and the iperf3 client, or `nil` to leave
    /// both to the guest. A benchmark sets one: the softirq work behind the interrupts and the
    /// client's copies to and from user space then run on the same vCPUs in every boot, where
    /// the guest would otherwise put them together in some boots and apart in others (1.3
    /// against 2.2 Gbit/s host→guest under QEMU TCG, whichever device serves the guest).
    public var placement: Placement?

    /// vCPUs for the device's interrupts (`/proc/irq/N/smp_affinity`, INTx and MSI-X alike) and
    /// for the iperf3 client (`taskset`).
    public struct Placement: Sendable {
        public var interruptCPU: Int
        public var clientCPU: Int

        public init(interruptCPU: Int, clientCPU: Int) {
            self.interruptCPU = interruptCPU
            self.clientCPU = clientCPU
        }
    }

    /// The script for a guest at `guestAddress` talking to the server at `hostAddress`.
    public init(hostAddress: String, guestAddress: String, prefixLength: Int = 24, seconds: Int, queues: Int = 1,
                placement: Placement? = nil) {
        self.hostAddress = hostAddress
        self.guestAddress = guestAddress
        self.prefixLength = prefixLength
        self.seconds = seconds
        self.queues = queues
        self.placement = placement
    }

    /// The shell text, for ``GuestInit`` (alone or after other commands).
    public var text: String {
        """
        ip link set eth0 up
        ip addr add \(guestAddress)/\(prefixLength) dev eth0
        echo "driver=$(basename $(readlink /sys/class/net/eth0/device/driver))"
        echo "vfeatures=$(cat /sys/class/net/eth0/device/features)"
        ping -c 3 -W 5 \(hostAddress) > /tmp/ping.txt 2>&1
        echo "ping-status=$?"
        cat /tmp/ping.txt
        \(multiQueueLines)
        \(placementLines)
        \(iperf(IperfResult.Direction.guestToHost.key, ""))
        \(iperf(IperfResult.Direction.hostToGuest.key, "-R"))
        for s in rx_errors tx_errors rx_dropped tx_dropped rx_packets tx_packets; do
            echo "$s=$(cat /sys/class/net/eth0/statistics/$s)"
        done
        """
    }

    /// Steers the PCI function's interrupts (its INTx line and any MSI-X vectors) to
    /// ``Placement/interruptCPU`` and reports the affinities (`irq-affinity`).
    private var placementLines: String {
        guard let placement else { return "" }
        let mask = String(1 << placement.interruptCPU, radix: 16)
        return """
            pcidev=$(readlink -f /sys/class/net/eth0/device/..)
            irqs="$(cat $pcidev/irq) $(ls $pcidev/msi_irqs 2>/dev/null)"
            for irq in $irqs; do
                [ "$irq" != 0 ] && echo \(mask) > /proc/irq/$irq/smp_affinity
            done
            echo "irq-affinity=$(for irq in $irqs; do printf '%s:%s,' $irq $(cat /proc/irq/$irq/smp_affinity 2>/dev/null); done)"
            """
    }

    private var multiQueueLines: String {
        guard queues > 1 else { return "" }
        return """
            echo "netqueues=$(ls /sys/class/net/eth0/queues | tr '\\n' ',')"
            for c in 0 1; do taskset -c $c ping -c 3 -W 5 \(hostAddress) > /dev/null 2>&1; echo "ping-cpu$c=$?"; done
            """
    }

    /// One iperf3 client run: its status, its report, and the receiver's figures (fields 5 and
    /// 7 of iperf3's `receiver` line with `-f m`: MBytes and Mbits/sec) and the sender's retries.
    private func iperf(_ direction: String, _ flags: String) -> String {
        """
        # iperf3's server takes one test at a time and may still be closing the last one.
        for attempt in 1 2 3 4 5; do
            \(placement.map { "taskset -c \($0.clientCPU) " } ?? "")iperf3 -c \(hostAddress) -t \(seconds) -f m \(flags) > /tmp/\(direction).txt 2>&1
            status=$?
            [ $status = 0 ] && break
            grep -q busy /tmp/\(direction).txt || break
            sleep 1
        done
        echo "\(direction)-status=$status"
        cat /tmp/\(direction).txt
        awk '/receiver/ { print "\(direction)-mbytes=" $5; print "\(direction)-mbits=" $7 }
             /sender/ && NF >= 10 { print "\(direction)-retr=" $9 }' /tmp/\(direction).txt
        """
    }
}
