import VirtioDevices
#if canImport(Glibc)
import Glibc
#endif

extension IOServerMachine {
    /// Takes the locks of disk images opened without them (a machine built `restoring` a
    /// saved state) or let go by ``unlockImages()``. On one host, a migration's sending device
    /// model holds them until the receiving one is to run; this retries while another process
    /// holds one, up to `limit`, then refuses, naming the image.
    public func lockImages(waitingUpTo limit: Duration) throws(MachineError) {
        let deadline = ContinuousClock.now + limit
        for attachment in attachments {
            guard let disk = attachment.device as? VirtioBlockDevice else { continue }
            while true {
                do throws(VirtioBlockError) {
                    try disk.lockImage()
                    break
                } catch {
                    guard ContinuousClock.now < deadline else { throw .controlRefused("\(attachment.name): \(error)") }
                    usleep(50_000)
                }
            }
        }
    }

    /// Lets go of every disk image's lock, as QEMU inactivates its images when it has sent a
    /// migration's device state: the receiving device model on this host takes them over.
    /// ``lockImages(waitingUpTo:)`` takes them again (a failed migration resumes here).
    public func unlockImages() {
        for attachment in attachments { (attachment.device as? VirtioBlockDevice)?.unlockImage() }
    }
}
