# The network: its id is only known once it has been applied, so every
# downstream workspace is planned again with the real value.

terraform {
  required_version = ">= 1.0"
  required_providers {
    null = {
      source  = "hashicorp/null"
      version = "2.1.2"
    }
  }
}

variable "name" {
  type = string
}

variable "cidr_block" {
  type = string
}

resource "null_resource" "vpc" {
  triggers = {
    name       = var.name
    cidr_block = var.cidr_block
  }
}

output "vpc_id" {
  value = "vpc-${null_resource.vpc.id}"
}

output "cidr_block" {
  value = var.cidr_block
}
