package libxl

import (
	"strconv"
	"strings"
)

// DiskDevNumber is Xen's device number of a virtual disk name (libvirt's libxlDiskPathToID; libxl's
// libxl__device_disk_dev_number, which it does not export): xvdX, hdX or sdX, with an optional partition number;
// -1 when the name is none of these.
func DiskDevNumber(name string) int {
	for _, prefix := range []string{"xvd", "hd", "sd"} {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		disk, part, ok := DiskIndex(rest)
		if !ok {
			return -1
		}
		switch {
		case prefix == "xvd" && disk <= 15 && part <= 15:
			return 202<<8 | disk<<4 | part
		case prefix == "xvd" && disk < 1<<20 && part <= 255:
			return 1<<28 | disk<<8 | part
		case prefix == "hd" && disk <= 3 && part <= 63:
			major := 3
			if disk >= 2 {
				major = 22
			}
			return major<<8 | (disk&1)<<6 | part
		case prefix == "sd" && disk <= 15 && part <= 15:
			return 8<<8 | disk<<4 | part
		}
		return -1
	}
	return -1
}

// DiskIndex parses the letters and partition of a disk name after its prefix ("a" → 0, "ab1" → 27, 1), as
// virDiskNameParse does.
func DiskIndex(s string) (disk, part int, ok bool) {
	i := 0
	for ; i < len(s) && s[i] >= 'a' && s[i] <= 'z'; i++ {
		disk = disk*26 + int(s[i]-'a') + 1
		if disk > 1<<24 {
			return 0, 0, false
		}
	}
	if i == 0 {
		return 0, 0, false
	}
	disk--
	if i < len(s) {
		p, err := strconv.Atoi(s[i:])
		if err != nil || p < 0 {
			return 0, 0, false
		}
		part = p
	}
	return disk, part, true
}
