# Private subnets of the secondary region, one per availability zone.
# Every input comes from vpc-west's outputs (wired in infra.yaml `inputs`).

terraform {
  required_version = ">= 1.0"
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "region" {
  type = string
}

variable "vpc_id" {
  type = string
}

variable "vpc_cidr" {
  type = string
}

variable "availability_zones" {
  type = list(string)
}

variable "tags" {
  type    = map(string)
  default = {}
}

variable "newbits" {
  type        = number
  description = "Bits added to the VPC prefix for each subnet (/16 + 8 = /24)."
  default     = 8
}

locals {
  cidrs = [for i, az in var.availability_zones : cidrsubnet(var.vpc_cidr, var.newbits, i)]
}

resource "null_resource" "subnet" {
  count = length(var.availability_zones)

  triggers = {
    vpc_id = var.vpc_id
    az     = var.availability_zones[count.index]
    cidr   = local.cidrs[count.index]
    tags   = jsonencode(merge(var.tags, { Tier = "private" }))
  }
}

output "region" {
  value = var.region
}

output "subnet_ids" {
  value = tolist([for s in null_resource.subnet : "subnet-${substr(sha1(s.id), 0, 17)}"])
}

output "subnet_cidrs" {
  description = "Availability zone => subnet CIDR."
  value       = tomap(zipmap(var.availability_zones, local.cidrs))
}
