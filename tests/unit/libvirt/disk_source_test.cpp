// image/pool tags for every disk layout the sensor may meet.
#include "pulse/libvirt/disk_source.hpp"

#include <gtest/gtest.h>

namespace pulse {
namespace {

DiskDevice disk(std::string type, std::string source) {
    DiskDevice d;
    d.type = std::move(type);
    d.device = "disk";
    d.source = std::move(source);
    d.target = "vda";
    return d;
}

void expect_names(const DiskDevice& d, const std::string& image, const std::string& pool) {
    auto names = disk_names(d);
    ASSERT_TRUE(names.has_value());
    EXPECT_EQ(names->image, image);
    EXPECT_EQ(names->pool, pool);
}

TEST(DiskSource, CloudStackFileDiskGivesImageAndPoolUuids) {
    expect_names(
        disk("file",
             "/mnt/b13cb3c0-c84d-334c-9fc3-4826ae58d984/cc8121ef-2029-4f4f-826e-7c4f2c8a5563"),
        "cc8121ef-2029-4f4f-826e-7c4f2c8a5563", "b13cb3c0-c84d-334c-9fc3-4826ae58d984");
}

TEST(DiskSource, LvmBlockDiskGivesLvAndVg) {
    expect_names(disk("block", "/dev/cloudvg/vm-18-root"), "vm-18-root", "cloudvg");
}

TEST(DiskSource, RbdDiskGivesImageAndPool) {
    DiskDevice d = disk("network", "cloudstack/9f1e2d3c");
    d.protocol = "rbd";
    expect_names(d, "9f1e2d3c", "cloudstack");
}

TEST(DiskSource, RbdDiskInANamespaceKeepsThePool) {
    DiskDevice d = disk("network", "rbdpool/tenant-a/image-1");
    d.protocol = "rbd";
    expect_names(d, "image-1", "rbdpool");
}

TEST(DiskSource, NetworkDiskWithABareNameLivesInItsProtocol) {
    DiskDevice d = disk("network", "export1");
    d.protocol = "nbd";
    expect_names(d, "export1", "nbd");
}

TEST(DiskSource, NbdDiskWithoutAnExportNameIsNamedAfterItsServer) {
    DiskDevice d = disk("network", "");
    d.protocol = "nbd";
    d.host = "storage1";
    expect_names(d, "storage1", "nbd");
}

TEST(DiskSource, VolumeDiskGivesVolumeAndStoragePool) {
    DiskDevice d = disk("volume", "vol.qcow2");
    d.pool = "default";
    expect_names(d, "vol.qcow2", "default");
}

TEST(DiskSource, PlainLibvirtImagesDirectory) {
    expect_names(disk("file", "/var/lib/libvirt/images/web.qcow2"), "web.qcow2", "images");
}

TEST(DiskSource, OddPathsStillGetNames) {
    expect_names(disk("file", "/disk.img"), "disk.img", "/");
    expect_names(disk("file", "relative.img"), "relative.img", "/");
    expect_names(disk("file", "/mnt//pool//image/"), "image", "pool");
    expect_names(disk("dir", "/srv/vm/dir-disk"), "dir-disk", "vm");
}

TEST(DiskSource, NvmeDiskIsNamedByItsTarget) {
    DiskDevice d = disk("nvme", "");
    expect_names(d, "vda", "nvme");
}

TEST(DiskSource, AnEmptyDriveHasNoNames) {
    EXPECT_FALSE(disk_names(disk("file", "")).has_value());
    EXPECT_FALSE(disk_names(disk("block", "")).has_value());
    EXPECT_FALSE(disk_names(disk("volume", "")).has_value());
    EXPECT_FALSE(disk_names(disk("network", "")).has_value());
}

}  // namespace
}  // namespace pulse
