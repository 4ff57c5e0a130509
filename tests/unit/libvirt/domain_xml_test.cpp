// Domain XML: disks with their device kind and source, NICs with MAC and host-side device.
#include "pulse/libvirt/domain_xml.hpp"

#include <gtest/gtest.h>

#include "fixtures.hpp"

namespace pulse {
namespace {

using pulse::testing::read_fixture;

TEST(DomainXml, ReadsDisksAndInterfacesOfALiveQemuDomain) {
    DomainDevices d = parse_domain_xml(read_fixture("domain-i-2-1-VM.xml"));
    ASSERT_EQ(d.disks.size(), 2u);
    EXPECT_EQ(d.disks[0].target, "vda");
    EXPECT_EQ(d.disks[0].device, "disk");
    EXPECT_EQ(d.disks[0].type, "file");
    EXPECT_EQ(d.disks[0].format, "qcow2");
    EXPECT_EQ(d.disks[0].source,
              "/mnt/b13cb3c0-c84d-334c-9fc3-4826ae58d984/cc8121ef-2029-4f4f-826e-000000000001");
    EXPECT_EQ(d.disks[1].target, "hdc");
    EXPECT_EQ(d.disks[1].device, "cdrom");
    EXPECT_EQ(d.disks[1].source, "");
    EXPECT_EQ(d.disks[1].format, "raw");
    ASSERT_EQ(d.nics.size(), 1u);
    EXPECT_EQ(d.nics[0].mac, "06:f2:64:00:01:54");
    EXPECT_EQ(d.nics[0].target, "vnet9");
}

TEST(DomainXml, ReadsEveryKindOfDiskSource) {
    DomainDevices d = parse_domain_xml(R"(<domain><devices>
      <disk type='block'><source dev='/dev/vg0/lv1'/><target dev='vda'/></disk>
      <disk type='network' device='disk'>
        <source protocol='rbd' name='pool/image'><host name='mon1' port='6789'/></source>
        <target dev='vdb'/></disk>
      <disk type='volume' device='disk'><source pool='default' volume='vol.qcow2'/><target dev='vdc'/></disk>
      <disk type='dir' device='floppy'><source dir='/srv/floppy'/><target dev='fda'/></disk>
    </devices></domain>)");
    ASSERT_EQ(d.disks.size(), 4u);
    EXPECT_EQ(d.disks[0].device, "disk") << "libvirt's default device";
    EXPECT_EQ(d.disks[0].source, "/dev/vg0/lv1");
    EXPECT_EQ(d.disks[1].protocol, "rbd");
    EXPECT_EQ(d.disks[1].source, "pool/image");
    EXPECT_EQ(d.disks[1].host, "mon1");
    EXPECT_EQ(d.disks[2].source, "vol.qcow2");
    EXPECT_EQ(d.disks[2].pool, "default");
    EXPECT_EQ(d.disks[3].device, "floppy");
    EXPECT_EQ(d.disks[3].source, "/srv/floppy");
}

TEST(DomainXml, ADomainWithoutDevicesHasNone) {
    DomainDevices d = parse_domain_xml("<domain type='kvm'><name>x</name></domain>");
    EXPECT_TRUE(d.disks.empty());
    EXPECT_TRUE(d.nics.empty());
}

TEST(DomainXml, BrokenXmlIsAnErrorNotACrash) {
    EXPECT_THROW(parse_domain_xml(""), DomainXmlError);
    EXPECT_THROW(parse_domain_xml("<domain><devices>"), DomainXmlError);
    EXPECT_THROW(parse_domain_xml("<network/>"), DomainXmlError);
    EXPECT_THROW(parse_domain_xml(std::string_view("<domain>\0</domain>", 18)), DomainXmlError);
}

TEST(DomainXml, ExternalEntitiesAreNeverLoaded) {
    // An entity pointing at a local file must not pull the file's text into a tag.
    std::string xml = R"(<?xml version="1.0"?>
<!DOCTYPE domain [<!ENTITY secret SYSTEM "file:///etc/hostname">]>
<domain><devices><interface type='ethernet'><mac address='&secret;'/></interface></devices></domain>)";
    try {
        DomainDevices d = parse_domain_xml(xml);
        ASSERT_EQ(d.nics.size(), 1u);
        EXPECT_EQ(d.nics[0].mac, "");
    } catch (const DomainXmlError&) {
        SUCCEED();
    }
}

}  // namespace
}  // namespace pulse
