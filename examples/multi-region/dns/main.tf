# Global DNS: latency-routed records for the app and the database in every region.

terraform {
  required_version = ">= 1.0"
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "zone" {
  type = string
}

variable "app_endpoints" {
  type        = map(string)
  description = "Region => app endpoint."
}

variable "db_endpoints" {
  type        = map(string)
  description = "Region => database endpoint."
}

variable "ttl" {
  type    = number
  default = 60
}

locals {
  records = merge(
    { for region, target in var.app_endpoints : "app.${var.zone}/${region}" => target },
    { for region, target in var.db_endpoints : "db.${var.zone}/${region}" => target },
  )
}

resource "null_resource" "zone" {
  triggers = {
    zone = var.zone
  }
}

resource "null_resource" "record" {
  for_each = local.records

  triggers = {
    zone_id = null_resource.zone.id
    name    = split("/", each.key)[0]
    region  = split("/", each.key)[1]
    target  = each.value
    ttl     = tostring(var.ttl)
  }
}

output "app_fqdn" {
  value = "app.${var.zone}"
}

output "records" {
  description = "\"name/region\" => target."
  value       = tomap(local.records)
}

output "name_servers" {
  value = tolist([for i in range(4) : "ns-${i + 1}.${substr(sha1(null_resource.zone.id), 0, 6)}.dns.internal"])
}
