#!/bin/busybox sh
# Stage 1, PID 1 of the guest's initramfs: load just enough virtio to reach the root image, then hand over to
# the image's own init. Debian's cloud kernel builds virtio_pci and virtio_blk as modules, hence this stage.
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t devtmpfs dev /dev
for module in $(/bin/busybox cat /modules/order); do
  /bin/busybox insmod "/modules/$module" || echo "initramfs: insmod $module failed"
done
# The root device can take a moment to appear after virtio_blk probes it.
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; /bin/busybox sleep 0.2; done
/bin/busybox mount -t ext4 /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; /bin/busybox reboot -f; }
/bin/busybox umount /proc
/bin/busybox mount --move /dev /newroot/dev
exec /bin/busybox switch_root /newroot /sfip/init
