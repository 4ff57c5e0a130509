// Domain XML → DomainDevices, with libxml2 (already loaded by libvirt itself).
//
// Only <devices>/<disk> and <devices>/<interface> are read. The parser never touches the network
// and never expands entities, so a hostile or broken description costs an error, not a fetch.
#include "pulse/libvirt/domain_xml.hpp"

#include "pulse/base/c_handle.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>

#include <climits>
#include <memory>

namespace pulse {
namespace {

// xmlFree is a variable (libxml2 lets a program replace its allocator), not a function.
void free_xml(xmlChar* text) {
    xmlFree(text);
}

bool named(const xmlNode* node, const char* name) {
    return node->type == XML_ELEMENT_NODE &&
           xmlStrcmp(node->name, reinterpret_cast<const xmlChar*>(name)) == 0;
}

std::string attribute(const xmlNode* node, const char* name) {
    CHandle<xmlChar, free_xml> value(xmlGetProp(node, reinterpret_cast<const xmlChar*>(name)));
    return value ? std::string(reinterpret_cast<const char*>(value.get())) : std::string();
}

const xmlNode* child(const xmlNode* node, const char* name) {
    for (const xmlNode* c = node->children; c != nullptr; c = c->next) {
        if (named(c, name)) {
            return c;
        }
    }
    return nullptr;
}

DiskDevice parse_disk(const xmlNode* node) {
    DiskDevice disk;
    disk.type = attribute(node, "type");
    disk.device = attribute(node, "device");
    if (disk.device.empty()) {
        disk.device = "disk";  // libvirt's default
    }
    if (const xmlNode* target = child(node, "target")) {
        disk.target = attribute(target, "dev");
    }
    if (const xmlNode* driver = child(node, "driver")) {
        disk.format = attribute(driver, "type");
    }
    if (const xmlNode* source = child(node, "source")) {
        // Which attribute holds the location depends on the disk type.
        for (const char* attr : {"file", "dev", "dir", "name", "volume", "path", "socket"}) {
            disk.source = attribute(source, attr);
            if (!disk.source.empty()) {
                break;
            }
        }
        disk.pool = attribute(source, "pool");
        disk.protocol = attribute(source, "protocol");
        if (const xmlNode* host = child(source, "host")) {
            disk.host = attribute(host, "name");
        }
    }
    return disk;
}

NicDevice parse_interface(const xmlNode* node) {
    NicDevice nic;
    if (const xmlNode* mac = child(node, "mac")) {
        nic.mac = attribute(mac, "address");
    }
    if (const xmlNode* target = child(node, "target")) {
        nic.target = attribute(target, "dev");
    }
    return nic;
}

}  // namespace

DomainDevices parse_domain_xml(std::string_view xml) {
    if (xml.size() > static_cast<std::size_t>(INT_MAX)) {
        throw DomainXmlError("domain XML too large");
    }
    constexpr int kOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
    CHandle<xmlDoc, xmlFreeDoc> doc(
        xmlReadMemory(xml.data(), static_cast<int>(xml.size()), "domain.xml", nullptr, kOptions));
    if (!doc) {
        const xmlError* error = xmlGetLastError();
        std::string why =
            error != nullptr && error->message != nullptr ? error->message : "not well-formed";
        if (!why.empty() && why.back() == '\n') {
            why.pop_back();
        }
        throw DomainXmlError("domain XML does not parse: " + why);
    }
    const xmlNode* root = xmlDocGetRootElement(doc.get());
    if (root == nullptr || !named(root, "domain")) {
        throw DomainXmlError("domain XML has no <domain> root element");
    }
    DomainDevices devices;
    const xmlNode* list = child(root, "devices");
    if (list == nullptr) {
        return devices;
    }
    for (const xmlNode* node = list->children; node != nullptr; node = node->next) {
        if (named(node, "disk")) {
            devices.disks.push_back(parse_disk(node));
        } else if (named(node, "interface")) {
            devices.nics.push_back(parse_interface(node));
        }
    }
    return devices;
}

}  // namespace pulse
