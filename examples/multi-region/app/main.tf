# The application, active in both regions. Each region's service runs in that
# region's VPC and subnets and talks to the database endpoint of its own region.

terraform {
  required_version = ">= 1.0"
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "regions" {
  type        = map(string)
  description = "Site => region, e.g. {east = \"us-east-1\"}."
}

variable "image_tag" {
  type = string
}

variable "replicas" {
  type    = number
  default = 2
}

variable "east_vpc_id" {
  type = string
}

variable "west_vpc_id" {
  type = string
}

variable "east_subnet_ids" {
  type = list(string)
}

variable "west_subnet_ids" {
  type = list(string)
}

variable "db_endpoints" {
  type        = map(string)
  description = "Region => database endpoint."
}

variable "db_port" {
  type = number
}

variable "db_password" {
  type      = string
  sensitive = true
}

locals {
  sites = {
    east = { vpc_id = var.east_vpc_id, subnet_ids = var.east_subnet_ids }
    west = { vpc_id = var.west_vpc_id, subnet_ids = var.west_subnet_ids }
  }
}

resource "null_resource" "service" {
  for_each = local.sites

  triggers = {
    region      = var.regions[each.key]
    vpc_id      = each.value.vpc_id
    subnet_ids  = jsonencode(each.value.subnet_ids)
    image_tag   = var.image_tag
    replicas    = tostring(var.replicas)
    database    = "${var.db_endpoints[var.regions[each.key]]}:${var.db_port}"
    db_password = sha256(var.db_password) # rotate the password => redeploy
  }
}

output "endpoints" {
  description = "Region => public endpoint of the app."
  value = tomap({
    for site, svc in null_resource.service :
    var.regions[site] => "app-${substr(sha1(svc.id), 0, 8)}.${var.regions[site]}.lb.internal"
  })
}

output "service_ids" {
  value = tolist([for site in sort(keys(null_resource.service)) : null_resource.service[site].id])
}
